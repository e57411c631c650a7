"""Every compiled (numba) loop of velora, cached on disk: the CfC step shared by inference and
training, the inference loop, the training loop (forward and back-propagation through time) and
the CSV number parser, plus the one thread pool they run on.

Kernels take numpy arrays (the training loop's autograd wrapper takes tensors) and import nothing
of velora's above them.
"""
