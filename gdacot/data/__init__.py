"""Demo generation, device-resident datasets and samplers."""

from gdacot.data.dataset import Batch, Dataset, Normalizer, num_real_in_batch, sample_mixed
from gdacot.data.demos import (Demos, concat_demos, demos_key, generate_configured_demos, generate_demos,
                               make_expert_rollout)
from gdacot.data.rlds import (KeyMap, RLDSData, dataset_summary, eval_skips, load_configured, load_domains,
                              load_rlds, resolve_dataset_dir, rlds_features, write_episodes, write_rlds)
from gdacot.data.rlds_validate import DatasetError
