"""The `connect` command's settings: a saved profile from a workspace, overridden by the flags
given, with {{variables}} resolved on every attempt."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from core.config import ConnectionConfig, ReconnectPolicy
from core.decoders.layer import default_registry
from core.decoders.registry import AUTO, RAW
from core.workspace import (
    Environment,
    Resolver,
    SecretStore,
    Workspace,
    WorkspaceError,
    default_workspace_path,
    load_workspace,
)


class CliError(ValueError):
    """A usage error, printed as one line (exit status 2)."""


def connect_settings(args: argparse.Namespace) -> tuple[ConnectionConfig, Callable[[str], str]]:
    ws: Workspace | None = None
    if args.workspace or args.profile or args.env:
        ws = _load(Path(args.workspace) if args.workspace else default_workspace_path())
    if args.profile:
        assert ws is not None
        base = ws.profile(args.profile)
        if base is None:
            names = ", ".join(repr(p.name) for p in ws.profiles) or "none"
            raise CliError(f"no profile {args.profile!r} in {ws.path} (its profiles: {names})")
        config = copy.deepcopy(base)
    elif args.url:
        config = ConnectionConfig(url=args.url, reconnect=ReconnectPolicy(enabled=False))
    else:
        raise CliError("give a URL to connect to, or --profile NAME")
    _override(config, args)
    try:
        config = dataclasses.replace(config)  # validates again
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if ws is None:  # ${env:NAME} and built-ins still work, e.g. --bearer '${env:TOKEN}'
        return config, Resolver()
    return config, Resolver(_environment(ws, args.env), SecretStore(ask=_asker(args)))


def _load(path: Path) -> Workspace:
    if not path.exists():
        raise CliError(f"no workspace file at {path}")
    try:
        return load_workspace(path)
    except WorkspaceError as exc:
        raise CliError(str(exc)) from None


def _environment(ws: Workspace, name: str | None) -> Environment | None:
    env = ws.environment(name)
    if env is None and name:
        names = ", ".join(repr(e.name) for e in ws.environments) or "none"
        raise CliError(f"no environment {name!r} in {ws.path} (its environments: {names})")
    return env


def _asker(args: argparse.Namespace) -> Callable[[str], str | None] | None:
    """Ask for a missing secret on the terminal, unless stdin carries messages or is no tty."""
    if args.stdin or not sys.stdin.isatty():
        return None

    def ask(key: str) -> str | None:
        try:
            return getpass.getpass(f"secret {key} (not echoed): ")
        except EOFError:
            return None

    return ask


def _override(config: ConnectionConfig, args: argparse.Namespace) -> None:
    """The flags given replace the profile's fields; headers replace those of the same name."""
    if args.url:
        config.url = args.url
    if args.header:
        given = [_header(h) for h in args.header]
        names = {name.lower() for name, _ in given}
        config.headers = [h for h in config.headers if h[0].lower() not in names] + given
    if args.subprotocol:
        config.subprotocols = list(args.subprotocol)
    if args.token or args.bearer:
        config.token = args.bearer or args.token
        config.token_mode = "bearer" if args.bearer else "query"
    if args.origin is not None:
        config.origin = args.origin
    if args.cafile is not None:
        config.cafile, config.insecure = args.cafile, False
    if args.insecure:
        config.insecure = True
    if args.no_compression:
        config.compression = False
    if args.max_size is not None:
        config.max_size = args.max_size
    hb = config.heartbeat
    if args.ping_interval is not None:
        hb.interval = args.ping_interval
    if args.ping_timeout is not None:
        hb.timeout = args.ping_timeout
    if args.app_ping is not None:
        hb.app_template = args.app_ping
    if args.retry:
        config.reconnect.enabled = True
    _override_protocol(config, args)


def _override_protocol(config: ConnectionConfig, args: argparse.Namespace) -> None:
    if args.raw:
        config.decoder, config.protocol_client = RAW, False
    elif args.decoder:
        names = default_registry().names
        if args.decoder not in (*names, AUTO, RAW):
            known = ", ".join([*names, AUTO, RAW])
            raise CliError(f"--decoder: no decoder named {args.decoder!r} (known: {known})")
        config.decoder = args.decoder
    if args.no_client:
        config.protocol_client = False
    for text in args.protocol_option:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--protocol-option {text!r}: expected KEY=VALUE")
        config.protocol_options = {**config.protocol_options, key.strip(): value}


def _header(text: str) -> tuple[str, str]:
    key, sep, value = text.partition(":")
    if not sep or not key.strip():
        raise CliError(f"--header {text!r} is not of the form 'Name: value'")
    return key.strip(), value.strip()
