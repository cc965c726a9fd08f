"""What this machine is and what it is doing: GPU readings, fingerprint, environment, sampler.

Modules are imported on demand (``from rigml.machine.gpu import default_source``) so that
``import rigml.machine`` costs nothing; each module keeps psutil, numpy and pynvml imports
inside the functions that need them.
"""
