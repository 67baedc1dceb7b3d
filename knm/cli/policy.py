"""How the `knm` command ends: every failure becomes a `KnmError` report and an exit code.

| exit | meaning |
|---|---|
| 0 | done |
| 1 | knm refused or failed (a `KnmError`), or some of several numbers failed |
| 2 | the command line itself was wrong |

No exception reaches the user as a traceback: anything that is not a `KnmError` is reported
as `500 internal_error` (`KNM_DEBUG=1` shows the traceback instead).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from knm import errors, secrets
from knm.cli.output import report_error, state

#: exit codes: 1 = knm refused or failed the operation, 2 = the command line itself was wrong
EXIT_ERROR, EXIT_USAGE = 1, 2


class ExitCode(Exception):
    """Finish with an exit code after the output was printed (partial bulk failures)."""

    def __init__(self, code: int) -> None:
        self.code = code


def internal(exc: BaseException) -> errors.KnmError:
    return errors.InternalError(
        "unexpected failure; run again with KNM_DEBUG=1 for the traceback",
        cause=secrets.redact_url(f"{type(exc).__name__}: {exc}")[:500],
    )


def usage_error(exc: click.UsageError) -> errors.KnmError:
    """A command line click could not parse is `400 invalid`, the cause naming the field."""
    cause = "arguments"
    param = getattr(exc, "param", None)
    if param is not None and getattr(param, "name", None):
        cause = str(param.name)
    elif getattr(exc, "option_name", None):
        cause = str(exc.option_name)
    return errors.Invalid(cause, exc.format_message())


def configure_logging() -> logging.Handler | None:
    """Warnings go to stderr for people; with `--json` stderr is kept for the error JSON.

    Returns the handler added (removed again when the command ends, so an in-process caller
    such as a test runner is left as it was), or None when logging was already set up."""
    root = logging.getLogger()
    if root.handlers:
        return None
    handler: logging.Handler
    if state.json:
        handler = logging.NullHandler()
    else:
        handler = logging.StreamHandler()  # stderr; rich's handler costs 0.3 s of start-up
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.WARNING)
    root.addHandler(handler)
    return handler


def wants_json(args: Sequence[str]) -> bool:
    for arg in args:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


class KnmGroup(click.Group):
    """The top-level group: turns every failure into a KnmError report and an exit code."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        state.json = wants_json(argv)
        state.db = None
        handler = configure_logging()
        try:
            result = super().main(argv, prog_name or "knm", complete_var,
                                  standalone_mode=False, **extra)
        except errors.KnmError as err:
            report_error(err)
            code = EXIT_ERROR
        except click.exceptions.NoArgsIsHelpError as exc:  # bare `knm` or `knm numbers`
            click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
            code = 0
        except click.UsageError as exc:
            report_error(usage_error(exc))
            if not state.json and exc.ctx is not None:
                click.echo(exc.ctx.get_usage(), err=True)
            code = EXIT_USAGE
        except click.Abort:
            report_error(errors.KnmError("aborted", code=499, error="aborted"))
            code = EXIT_ERROR
        except click.ClickException as exc:  # e.g. a FileError raised by click itself
            report_error(errors.Invalid("arguments", exc.format_message()))
            code = EXIT_USAGE
        except ExitCode as done:
            code = done.code
        except Exception as exc:  # noqa: BLE001 - the whole point: never a traceback
            if os.environ.get("KNM_DEBUG"):
                raise
            report_error(internal(exc))
            code = EXIT_ERROR
        else:
            code = result if isinstance(result, int) else 0
        finally:
            if handler is not None:
                logging.getLogger().removeHandler(handler)
        if standalone_mode:
            sys.exit(code)
        return code
