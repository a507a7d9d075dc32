"""Dataset formats side by side: one reader module per format, one loader, one validation.

  load(path, key_map)            any registered format (detected from the directory, or named)
  load_configured(cfg, ...)      the domains a co-training config reads (`sources` block)
  summary(path)                  episodes, steps and features of any dataset (tools.dataset_info)

Formats: rlds (sources/rlds.py). Adding one: a `Reader` subclass in sources/<format>.py that
lists the step fields and yields episodes as numpy arrays, and one `register_source` line
below; the key map, the checks (validate.py) and the padding into `Demos` are shared.
"""

from gdacot.data.sources.base import Episode, Field, KeyMap, Reader, SourceData
from gdacot.data.sources.config import (apply_legacy_rlds, check_sources, configured_sources, legacy_rlds_config,
                                        sources_config, upgrade_saved_config)
from gdacot.data.sources.load import eval_skips, load, load_configured, load_domains, summary
from gdacot.data.sources.registry import SOURCES, detect_format, open_source, register_source
from gdacot.data.sources.rlds import RLDSReader
from gdacot.data.sources.validate import DatasetError

register_source("rlds", RLDSReader)
