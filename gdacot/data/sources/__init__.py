"""Dataset formats side by side: one reader module per format, one loader, one validation.

  load(path, key_map)            any registered format (detected from the directory, or named)
  load_configured(cfg, ...)      the domains a co-training config reads (`sources` block)
  summary(path)                  episodes, steps and features of any dataset (tools.dataset_info)

Formats: rlds (sources/rlds.py), lerobot (sources/lerobot.py, v3.0 and v2.1; written by
lerobot_write.py), robomimic (sources/robomimic.py, HDF5). Adding one: a `Reader` subclass in sources/<format>.py that
lists the step fields and yields episodes as numpy arrays, and one `register_source` line
below; the key map, the checks (validate.py) and the padding into `Demos` are shared.
"""

from gdacot.data.sources.base import Episode, Field, KeyMap, Part, Reader, SourceData
from gdacot.data.sources.config import (DatasetSpec, apply_legacy_rlds, check_sources, configured_sources, datasets,
                                        legacy_rlds_config, reads_datasets, sources_config, upgrade_saved_config)
from gdacot.data.sources.load import eval_skips, load, load_configured, load_domains, load_mixture, summary
from gdacot.data.sources.lerobot import LeRobotReader
from gdacot.data.sources.registry import SOURCES, detect_format, open_source, register_source
from gdacot.data.sources.rlds import RLDSReader
from gdacot.data.sources.robomimic import RobomimicReader
from gdacot.data.sources.validate import DatasetError

register_source("rlds", RLDSReader)
register_source("lerobot", LeRobotReader)
register_source("robomimic", RobomimicReader)
