"""Shared test helpers: the tiny config of tests/tiny_config.py."""
import pytest

from tests.tiny_config import get_config as tiny_config


@pytest.fixture
def tiny():
  return tiny_config
