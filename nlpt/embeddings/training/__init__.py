"""What the embedding trainers share while training: the threaded driver with progress, stop flag and
checkpoints (`driver`), and the numba encoder of corpus bytes to word ids (`bytescan`)."""
