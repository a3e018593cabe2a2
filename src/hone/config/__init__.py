"""Config: one typed tree (``schema``), loaded and checked once at the edge (``load``)."""

from hone.config.load import ConfigError, dump_config, load_config, to_mapping
from hone.config.schema import ClassifyConfig, HoneConfig, NerConfig, RunConfig
from hone.config.template import config_template

__all__ = [
    "ClassifyConfig",
    "ConfigError",
    "HoneConfig",
    "NerConfig",
    "RunConfig",
    "config_template",
    "dump_config",
    "load_config",
    "to_mapping",
]
