"""The console process: the health endpoint now, the local web console later."""
