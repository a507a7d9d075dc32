"""Demo generation, device-resident datasets and samplers; datasets on disk in `sources`."""

from gdacot.data.dataset import Batch, Dataset, Normalizer, num_real_in_batch, sample_mixed
from gdacot.data.demos import (Demos, concat_demos, demos_key, generate_configured_demos, generate_demos,
                               make_expert_rollout)
from gdacot.data.sources import DatasetError, KeyMap, SourceData, eval_skips, load, load_configured
