"""`make fuzz`: longer fuzz runs than the test suite's; each fuzz_<part>.py has run(budget_s)."""
