"""Loaded by every Python that Pacemaker starts in a lab host (PYTHONPATH of pacemakerd,
Cluster/lab up --pacemaker).

Debian 12's fence_compute and fence_evacuate (fence-agents 4.12.1) call
`inspect.getargspec`, which Python 3.11 (Debian 12's python3) removed: unchanged, both fail
every start, monitor and fence with an AttributeError. They only read `.varargs` of the
result, which `getfullargspec` gives the same; the name is restored here so that the stock
agents run as shipped.
"""
import inspect

if not hasattr(inspect, "getargspec"):
    inspect.getargspec = inspect.getfullargspec
