"""Observation: worker samples to the master, the web UI tabs, the Redis probe, the results
folder and its verdict, and the plots."""
