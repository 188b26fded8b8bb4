"""Checks of a valid config against the host it will run on.

:func:`monitor.config.load_config` proves a document is well formed; it does
not look at the machine. These checks do, so ``check-config`` catches what
would otherwise fail minutes into ``run`` (85 connection warnings that never
name the missing CA file):

- :func:`file_problems`: every file or directory the config names as input
  (Kafka CA, certificate and key, secret files, the model package, the
  degradation table, notified path roots) exists and is readable now (the
  degradation table also parses);
- :func:`secret_problems`: every secret the config names resolves (its
  environment variable is set, its file is readable and not empty);
- :func:`config_warnings`: legal settings that are probably not meant.

``run`` refuses to start (exit 3) on a file problem; ``check-config``
reports all three.
"""

from __future__ import annotations

import os
from pathlib import Path

from monitor.config import Config
from monitor.credentials import read_secret
from monitor.sources import KafkaFeedSettings
from monitor.typedyaml import ConfigError, ConfigIssue

__all__ = ["config_warnings", "file_problems", "secret_problems"]


def _readable(where: str, path: Path | None, directory: bool = False) -> list[ConfigIssue]:
    if path is None:
        return []
    what = "directory" if directory else "file"
    if not path.exists():
        return [ConfigIssue(where, f"{what} {path} does not exist")]
    if directory != path.is_dir():
        return [ConfigIssue(where, f"{path} is not a {what}")]
    if not os.access(path, os.R_OK | (os.X_OK if directory else 0)):
        return [ConfigIssue(where, f"{path} is not readable by this user")]
    return []


def _degradation_table(spec: str) -> list[ConfigIssue]:
    from monitor.preprocess.calibrate import BUILTIN, NONE, load_degradation_table

    where = "preprocess.degradation_table"
    if spec in (BUILTIN, NONE):
        return []
    path = Path(spec)
    issues = _readable(where, path, directory=path.is_dir())
    if issues:
        return issues
    try:
        load_degradation_table(spec)
    except (ValueError, UnicodeDecodeError) as exc:
        return [ConfigIssue(where, f"not a degradation table: {str(exc)[:300]}")]
    return []


def file_problems(config: Config) -> list[ConfigIssue]:
    """Input files and directories the config names that are missing or unreadable."""
    k, h = config.kafka, config.http
    issues = [
        *_readable("kafka.ssl_cafile", k.ssl_cafile),
        *_readable("kafka.ssl_certfile", k.ssl_certfile),
        *_readable("kafka.ssl_keyfile", k.ssl_keyfile),
        *_readable("kafka.sasl_password_file", k.sasl_password_file),
        *_readable("http.token_file", h.token_file),
        *_readable("inference.model_package", config.inference.model_package, directory=True),
        *(issue for i, shadow in enumerate(config.inference.shadow)
          for issue in _readable(f"inference.shadow[{i}]", shadow, directory=True)),
        *_degradation_table(config.preprocess.degradation_table),
    ]
    for i, feed in enumerate(config.feeds):
        if isinstance(feed, KafkaFeedSettings):
            for j, root in enumerate(feed.path_roots):
                issues += _readable(f"feeds[{i}].path_roots[{j}]", root, directory=True)
    return issues


def secret_problems(config: Config) -> list[ConfigIssue]:
    """Secrets named by the config that do not resolve in this environment."""
    problems: list[ConfigIssue] = []
    checks = [
        ("kafka.sasl_password_env", config.kafka.sasl_password_env,
         config.kafka.sasl_password_file),
        ("http.token_env", config.http.token_env, config.http.token_file),
    ]
    for path, env, file in checks:
        try:
            read_secret(env, file, path)
        except ConfigError as exc:
            problems.extend(exc.issues)
    return problems


def config_warnings(config: Config) -> list[ConfigIssue]:
    """Settings that are valid but probably not what the operator meant."""
    out: list[ConfigIssue] = []
    for i, feed in enumerate(config.feeds):
        if isinstance(feed, KafkaFeedSettings):
            out += [ConfigIssue(f"feeds[{i}].{key}", message) for key, message in feed.warnings()]
    return out
