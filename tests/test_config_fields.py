from dataclasses import dataclass

import pytest

from codepager.config_fields import config_from_dict, reject_unknown_settings
from codepager.errors import ConfigError


@dataclass
class Sample:
    width: int = 1
    depth: int = 2


def test_known_settings_build_the_dataclass():
    assert config_from_dict(Sample, {"depth": 5}, "sample") == Sample(width=1, depth=5)


def test_unknown_settings_are_named_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown sample setting\(s\): colour, size; known: depth, width"):
        config_from_dict(Sample, {"size": 3, "colour": "red", "width": 2}, "sample")


def test_reject_only_checks_names():
    reject_unknown_settings(Sample, {"width": "not validated here"}, "sample")
    with pytest.raises(ConfigError, match="unknown sample setting"):
        reject_unknown_settings(Sample, {"height": 1}, "sample")
