"""`make bench`: each bench_<part>.py module has run() -> list[Table]."""
