"""Config of `experiments.cotrain`: the library's default co-training config, as a file for --config.

  --config=experiments/configs/cotrain.py        the default benchmark (minutes on a CPU)
  --config=experiments/configs/cotrain.py:smoke  seconds, for tests
  --config=experiments/configs/cotrain.py:diffusion        the diffusion-policy head (paper A's policy)
  --config=experiments/configs/cotrain.py:flow,smoke       variants combine, comma-separated
  --config=experiments/configs/cotrain.py:image            camera images + proprioception, CNN encoder,
                                                           the visual gap (paper A's setting)
  --config=experiments/configs/cotrain.py:image,physics    gap variants: visual | physics | visual_physics
  --config=experiments/configs/cotrain.py:paper            paper A's sizes: lift, 64x64 front + wrist, a ResNet
                                                           per view, diffusion, 100k steps (for a GPU;
                                                           `paper,smoke` for tests)
  --config=experiments/configs/cotrain.py:smoke,my_pkg.tasks:MyTask   a task of your own package
Any field can be overridden, e.g. --config.method=cotrain --config.seed=3 --config.w=0.2.
The defaults and their checks live in gdacot/train/config.py.
"""

from gdacot.train.config import get_config  # noqa: F401  (config_flags calls get_config(arg))
