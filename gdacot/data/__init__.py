"""Demo generation, device-resident datasets and samplers."""

from gdacot.data.dataset import Batch, Dataset, Normalizer, num_real_in_batch, sample_mixed
from gdacot.data.demos import Demos, concat_demos, generate_demos, make_expert_rollout
