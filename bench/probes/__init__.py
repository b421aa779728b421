"""Scripts the bench runs in their own process (`python -m bench.probes.<name>`), each with
Django set up on the bench settings; each prints one line of JSON, the last of its output.
"""
