import os

# Tests run on the CPU, in float32, whatever the machine has.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
