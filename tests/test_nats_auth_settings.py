"""The NATS client settings (ROSEY_NATS_*): parsed, listed in --help, never shown.

(That no log line shows a password, refused or connected, is in tests/test_nats_auth.py.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from rosey import bus
from rosey.config import nats_auth_settings
from rosey.errors import ConfigError

SECRET = "s3cret-Do-Not-Log"


def test_user_and_password_or_its_file(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text(SECRET + "\n")
    auth = nats_auth_settings({"ROSEY_NATS_USER": "bot", "ROSEY_NATS_PASSWORD_FILE": str(pw)})
    assert auth.user == "bot" and auth.password is not None
    assert auth.password.reveal() == SECRET
    assert SECRET not in repr(auth) and SECRET not in str(auth)
    options = bus.connect_options(auth)
    assert options["user"] == "bot" and options["password"] == SECRET
    assert options["inbox_prefix"] == "_INBOX_bot"
    assert bus.connect_options(nats_auth_settings({})) == {}


def test_tls_and_credentials_files_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="ROSEY_NATS_TLS_CA"):
        nats_auth_settings({"ROSEY_NATS_TLS_CA": str(tmp_path / "missing.pem")})
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    with pytest.raises(ConfigError, match="go together"):
        nats_auth_settings({"ROSEY_NATS_TLS_CERT": str(cert)})
    with pytest.raises(ConfigError, match="ROSEY_NATS_USER is not"):
        nats_auth_settings({"ROSEY_NATS_PASSWORD": SECRET})
    with pytest.raises(ConfigError, match="one of"):
        nats_auth_settings({"ROSEY_NATS_USER": "bot", "ROSEY_NATS_CREDS_FILE": str(cert)})
    creds = nats_auth_settings({"ROSEY_NATS_CREDS_FILE": str(cert)})
    assert creds.creds_file == cert  # its content is checked by connect_options (below)
    with pytest.raises(ConfigError, match="TLS files"):  # not a certificate
        bus.connect_options(nats_auth_settings({"ROSEY_NATS_TLS_CA": str(cert)}))


@pytest.mark.parametrize("command", [["rosey.cli", "db"], ["rosey.cli", "bot"],
                                     ["rosey.cli", "up"]])
def test_help_lists_the_nats_settings(command):
    out = subprocess.run([sys.executable, "-m", *command, "--help"], capture_output=True,
                         text=True, check=True).stdout
    for name in ("ROSEY_NATS_USER", "ROSEY_NATS_PASSWORD_FILE", "ROSEY_NATS_CREDS_FILE",
                 "ROSEY_NATS_NKEY_SEED_FILE", "ROSEY_NATS_TLS_CA", "ROSEY_NATS_TLS_CERT",
                 "ROSEY_NATS_TLS_KEY", "ROSEY_NATS_TLS_HOSTNAME"):
        assert name in out, (command, name)



@pytest.mark.parametrize("name", ["ROSEY_NATS_NKEY_SEED_FILE", "ROSEY_NATS_CREDS_FILE"])
def test_a_seed_file_that_holds_no_valid_seed_is_refused_by_name_without_showing_it(tmp_path,
                                                                                       name):
    """nats-py would crash at connect (nkeys.ErrInvalidSeed, a traceback); the entry points
    turn a ConfigError into one line and exit code 2."""
    bad = tmp_path / "bad"
    bad.write_text("SUNOTAREALSEED" + SECRET + "\n" if name.endswith("SEED_FILE") else
                   "-----BEGIN NATS USER JWT-----\neyJ0\n------END NATS USER JWT------\n"
                   "-----BEGIN USER NKEY SEED-----\nSU" + SECRET
                   + "\n------END USER NKEY SEED------\n")
    with pytest.raises(ConfigError, match=name) as refused:
        bus.connect_options(nats_auth_settings({name: str(bad)}))
    assert SECRET not in str(refused.value)
    if name == "ROSEY_NATS_CREDS_FILE":
        bad.write_text("x")
        with pytest.raises(ConfigError, match="not a NATS credentials file"):
            bus.connect_options(nats_auth_settings({name: str(bad)}))
