"""The image and the compose setup, proved without a Docker engine: linters, the Compose
specification's schema, the wiring that matters, and Django's deployment checklist run with
exactly the environment compose gives the app."""

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from config.tests.containers import (
    COMPOSE_DEV_FILE,
    COMPOSE_FILE,
    DOCKERFILE,
    ENV_EXAMPLE,
    REPO,
    MissingVariable,
    dockerfile_instructions,
    image_environment,
    image_json_array,
    interpolate,
    load_compose,
    operator_dotenv,
    production_app_environment,
    read_env_file,
    service_environment,
    stage_lineage,
)

BIN = Path(sys.executable).parent
SECRET_NAME = re.compile(r"SECRET|PASSWORD|LICENSE_KEY|TOKEN|API_KEY")


def run(*command: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, **kwargs)


def host_environment(environment: dict[str, str]) -> dict[str, str]:
    """A container's environment on this machine: only PATH added, to find our virtualenv."""
    return {**environment, "PATH": f"{BIN}:/usr/bin:/bin"}


# --- Linters --------------------------------------------------------------------------------------


def test_hadolint_passes_at_its_strictest():
    result = run(str(BIN / "hadolint"), "--no-color", "--failure-threshold", "style", str(DOCKERFILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_every_rule_hadolint_is_told_to_ignore_is_justified():
    text = DOCKERFILE.read_text()
    ignored = re.findall(r"#\s*hadolint ignore=([\w,]+)", text)
    assert not (REPO / ".hadolint.yaml").exists()
    for rule in {rule for group in ignored for rule in group.split(",")}:
        justifications = [
            line for line in text.splitlines() if rule in line and "hadolint ignore" not in line
        ]
        assert justifications, f"{rule} is ignored without a comment saying why"
    # ...and each ignore is needed: without the pragmas hadolint does complain.
    result = run(str(BIN / "hadolint"), "--no-color", "--disable-ignore-pragma", str(DOCKERFILE))
    for group in ignored:
        for rule in group.split(","):
            assert rule in result.stdout


def test_the_container_scripts_pass_shellcheck():
    scripts = sorted(str(path) for path in (REPO / "docker").glob("*.sh"))
    assert len(scripts) >= 3
    result = run(str(BIN / "shellcheck"), "--shell=sh", "--severity=style", *scripts)
    assert result.returncode == 0, result.stdout
    for script in scripts:
        assert os.access(script, os.X_OK), f"{script} is not executable"
        assert Path(script).read_text().startswith("#!/bin/sh\n")


# --- The compose files against the Compose specification --------------------------------------------


def check_compose_schema(*paths: Path) -> subprocess.CompletedProcess:
    return run(
        str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", *(str(p) for p in paths)
    )


def test_the_compose_files_follow_the_compose_specification():
    result = check_compose_schema(COMPOSE_FILE, COMPOSE_DEV_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_does_catch_a_broken_compose_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        COMPOSE_FILE.read_text().replace("condition: service_healthy", "condition: when_healthy", 1)
    )
    result = check_compose_schema(broken)
    assert result.returncode == 1
    assert "when_healthy" in result.stdout


# --- The wiring -----------------------------------------------------------------------------------


def test_the_app_starts_only_on_a_healthy_postgis_and_keeps_its_data_on_volumes():
    compose = load_compose(COMPOSE_FILE)
    services, volumes = compose["services"], compose["volumes"]
    db, app, scheduler, proxy = services["db"], services["app"], services["scheduler"], services["proxy"]

    # The public image unless a stand-in is named (machines without a registry: docs/containers.md).
    assert interpolate(db["image"], {}).startswith("postgis/postgis:15-")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert "db-data:/var/lib/postgresql/data" in db["volumes"]

    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    # gunicorn is published to nobody: only the proxy, which buffers whole requests, reaches it.
    assert "ports" not in app
    assert app["expose"] == ["8000"]
    assert app["build"] == "."
    assert app["pull_policy"] == "build"
    assert {"geoip:/data/geoip", "spool:/data/spool"} <= set(app["volumes"])
    assert app["env_file"] == ".env"
    for service in (app, scheduler, proxy):
        assert service["read_only"] is True
        assert service["tmpfs"] == ["/tmp"]
        assert service["cap_drop"] == ["ALL"]

    assert interpolate(proxy["image"], {}) == "caddy:2"
    assert {"80:80", "443:443"} <= set(proxy["ports"])
    assert "./docker/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert proxy["cap_add"] == ["NET_BIND_SERVICE"]

    # The scheduler: the same image and volume, its own loop, no gunicorn health check.
    assert scheduler["image"] == app["image"]
    assert scheduler["build"] == app["build"]
    assert scheduler["depends_on"]["db"]["condition"] == "service_healthy"
    assert "geoip:/data/geoip" in scheduler["volumes"]
    assert scheduler["entrypoint"] == ["/app/docker/scheduler.sh"]
    assert scheduler["healthcheck"] == {"disable": True}
    assert "command" not in scheduler  # an entrypoint of its own discards the image's CMD
    assert "ports" not in scheduler

    assert set(volumes) == {"db-data", "geoip", "spool", "caddy-data", "caddy-config"}
    valkey = services["valkey"]
    assert app["depends_on"]["valkey"]["condition"] == "service_healthy"
    assert interpolate(valkey["image"], {}) == "valkey/valkey:8"
    assert valkey["read_only"] is True
    assert production_app_environment()["REDIS_URL"] == "redis://valkey:6379/0"
    environment = production_app_environment()
    assert environment["GEOIP_PATH"] == "/data/geoip" == image_environment()["GEOIP_PATH"]
    url = urlsplit(environment["DATABASE_URL"])
    assert (url.scheme, url.hostname, url.port) == ("postgis", "db", 5432)
    assert service_environment("scheduler", dotenv=operator_dotenv())["DATABASE_URL"] == url.geturl()


def test_development_mounts_the_source_and_debugs_on_loopback_only():
    compose = load_compose(COMPOSE_FILE, COMPOSE_DEV_FILE)
    app = compose["services"]["app"]
    assert app["build"]["target"] == "dev"
    assert ".:/app" in app["volumes"]
    assert "geoip:/data/geoip" in app["volumes"]
    assert app["command"] == ["/app/docker/runserver.sh"]
    assert set(app["ports"]) == {"127.0.0.1:8000:8000", "127.0.0.1:5678:5678"}
    # The spool stays on its volume: never in the mounted checkout, which the app user may not write.
    assert "spool:/data/spool" in app["volumes"]
    assert compose["services"]["proxy"]["profiles"] == ["proxy"]
    files = (COMPOSE_FILE, COMPOSE_DEV_FILE)
    environment = service_environment("app", dotenv=operator_dotenv(), files=files)
    assert environment["DJANGO_DEBUG"] == "1"
    assert environment["DJANGO_SECURE_SSL_REDIRECT"] == "0"
    assert environment["DEBUGPY"] == "0"
    assert service_environment("app", dotenv=operator_dotenv(DEBUGPY="1"), files=files)["DEBUGPY"] == "1"
    # A plain `docker compose up` stays production: nothing is loaded by itself.
    assert not list(REPO.glob("docker-compose.override.y*ml"))
    assert not list(REPO.glob("compose.override.y*ml"))
    assert "debugpy" in (REPO / "requirements" / "dev.txt").read_text()
    assert "debugpy" not in (REPO / "requirements" / "base.txt").read_text()


def test_the_compose_files_hold_no_secrets():
    for path in (COMPOSE_FILE, COMPOSE_DEV_FILE):
        for name, service in load_compose(path)["services"].items():
            entries = service.get("environment", {})
            for variable, value in entries.items():
                if SECRET_NAME.search(variable):
                    # Named, required from .env, with no default to fall back on.
                    required = rf"\$\{{{variable}(:\?[^}}]*)?\}}"
                    assert re.fullmatch(required, str(value)), (path, name, variable)
                url = urlsplit(str(value))
                if url.scheme and url.password:
                    assert re.fullmatch(r"\$\{POSTGRES_PASSWORD:\?[^}]*\}", url.password), (name, variable)
    # Without a secret key, compose refuses to start rather than run with a weak one.
    for missing in ("DJANGO_SECRET_KEY", "POSTGRES_PASSWORD", "DJANGO_ALLOWED_HOSTS"):
        with pytest.raises(MissingVariable, match=missing):
            service_environment("app", dotenv=operator_dotenv(**{missing: ""}))
    # The example ships no secret values; the real .env never reaches git or the image.
    example = read_env_file(ENV_EXAMPLE)
    for variable, value in example.items():
        if SECRET_NAME.search(variable):
            assert value == "", variable
    assert ".env" in (REPO / ".gitignore").read_text().split()
    assert ".env" in (REPO / ".dockerignore").read_text().split()
    tracked = run("git", "ls-files", "--error-unmatch", ".env").returncode
    assert tracked != 0, ".env is committed"


def test_the_image_runs_as_a_user_with_a_health_check_and_no_geoip_database():
    instructions = dockerfile_instructions()
    stages = [i.stage for i in instructions if i.keyword == "FROM"]
    assert stages[-1] == "production", "the default target (the last stage) must be production"
    assert stage_lineage("production", instructions) == ["runtime", "production"]
    for i in instructions:
        if i.keyword == "FROM":
            assert i.arguments.split()[0] in {"python:3.11-slim-bookworm", *stages}

    def last(keyword: str, stage: str) -> str:
        lineage = stage_lineage(stage, instructions)
        return [i.arguments for i in instructions if i.keyword == keyword and i.stage in lineage][-1]

    for stage in ("production", "dev"):
        user = last("USER", stage)
        assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), f"{stage} runs as {user}"
    assert "10001" in next(i.arguments for i in instructions if "useradd" in i.arguments)

    healthcheck = last("HEALTHCHECK", "production")
    # The checkout is /app in the image (WORKDIR), so the image's paths name files of ours.
    assert last("WORKDIR", "production") == "/app"
    assert healthcheck.endswith('CMD ["python", "/app/docker/healthcheck.py"]')
    assert (REPO / "docker" / "healthcheck.py").is_file()
    assert image_json_array("ENTRYPOINT") == ["/app/docker/entrypoint.sh"]
    assert image_json_array("CMD", "dev") == ["/app/docker/runserver.sh"]
    for script in ("entrypoint.sh", "runserver.sh", "scheduler.sh"):
        assert os.access(REPO / "docker" / script, os.X_OK)
    assert image_json_array("CMD") == ["gunicorn", "-c", "config/gunicorn.conf.py"]
    assert image_environment()["GUNICORN_BIND"] == "0.0.0.0:8000"
    assert last("VOLUME", "production") == '["/data/geoip", "/data/spool"]'
    assert image_environment()["HISTORY_SPOOL_DIR"] == "/data/spool"
    assert any("collectstatic" in i.arguments for i in instructions if i.stage == "runtime")

    # Only runtime libraries in the final image: no compilers, no -dev packages.
    runtime = [i.arguments for i in instructions if i.stage == "runtime"]
    installs = [arguments for arguments in runtime if "apt-get install" in arguments]
    assert len(installs) == 1
    assert not re.search(r"-dev\b|build-essential|gcc|\bcurl\b", installs[0])

    # No GeoIP database enters the image: never named, and kept out of the build context.
    for i in instructions:
        if i.keyword in {"COPY", "ADD"}:
            assert "mmdb" not in i.arguments
            assert "var" not in i.arguments.split()
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {"**/*.mmdb", "**/*.mmdb.gz", "var"} <= set(ignored)


def test_the_image_ships_the_gdal_geos_and_proj_the_tests_run_against():
    """The runtime packages named in the Dockerfile are the ones Django loads here."""
    install = next(i.arguments for i in dockerfile_instructions() if "apt-get install" in i.arguments)
    packages = set(re.findall(r"\blib[\w.+-]+", install.partition("--no-install-recommends")[2]))
    assert packages == {"libgdal32", "libgeos-c1v5", "libproj25"}
    code = (
        "from django.contrib.gis.gdal.libgdal import lgdal;"
        "from django.contrib.gis.geos.libgeos import lgeos;"
        "print(lgdal._name, lgeos._name)"
    )
    loaded = run(sys.executable, "-c", f"import django; django.setup(); {code}", env={**os.environ})
    assert loaded.returncode == 0, loaded.stderr
    owners = run("dpkg", "-S", *loaded.stdout.split(), "libproj.so.25")
    assert owners.returncode == 0, owners.stderr
    assert {line.split(":")[0] for line in owners.stdout.splitlines()} == packages


# --- Django's deployment checklist, with compose's production environment ---------------------------


def test_check_deploy_passes_with_the_environment_compose_gives_the_app():
    environment = host_environment(production_app_environment())
    result = run(sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING", env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_when_the_environment_weakens_https(tmp_path):
    environment = host_environment(production_app_environment(DJANGO_SECURE_SSL_REDIRECT="0"))
    result = run(sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING", env=environment)
    assert result.returncode == 1
    assert "security.W008" in result.stderr


def test_interpolation_follows_compose():
    variables = {"SET": "value", "EMPTY": ""}
    text = "${SET:-x} ${EMPTY:-x} ${EMPTY-x} ${UNSET-x} $SET $$SET"
    assert interpolate(text, variables) == "value x  x value $SET"
    with pytest.raises(MissingVariable, match="say why"):
        interpolate("${EMPTY:?say why}", variables)
    assert interpolate("${EMPTY?fine}", variables) == ""


SETTINGS_SOURCES = {
    REPO / "config" / "settings.py": r"env_(?:str|bool|int|float|list|rate)\(\s*\"([A-Z][A-Z0-9_]+)\"",
    REPO / "config" / "gunicorn.conf.py": r"environ(?:\.get\(|\[)\"([A-Z][A-Z0-9_]+)\"",
}
CONTAINER_SOURCES = {
    ENV_EXAMPLE: r"^#? ?([A-Z][A-Z0-9_]+)=",
    COMPOSE_FILE: r"\$\{([A-Z][A-Z0-9_]+)",
    COMPOSE_DEV_FILE: r"\$\{([A-Z][A-Z0-9_]+)",
    **{path: r"\$\{([A-Z][A-Z0-9_]+)" for path in (REPO / "docker").glob("*.sh")},
    REPO / "docker" / "Caddyfile": r"\{\$([A-Z][A-Z0-9_]+)",
}


def variables_read(sources: dict[Path, str]) -> set[str]:
    variables = set()
    for path, pattern in sources.items():
        found = set(re.findall(pattern, path.read_text(), re.MULTILINE))
        assert found, path
        variables |= found
    return variables


def variables_in_table(doc: Path) -> set[str]:
    """The variables a Markdown table names in its first column."""
    cells = re.findall(r"^\| ([^|]*)\|", doc.read_text(), re.MULTILINE)
    return {name for cell in cells for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}


def test_the_configuration_table_lists_every_setting_and_nothing_else():
    """docs/configuration.md: whatever settings.py and gunicorn's config read, and no variable they do not."""
    read = variables_read(SETTINGS_SOURCES)
    documented = variables_in_table(REPO / "docs" / "configuration.md")
    assert {"undocumented": sorted(read - documented), "not read": sorted(documented - read)} == {
        "undocumented": [],
        "not read": [],
    }


def test_the_docs_document_every_container_variable():
    """What the container scripts, compose and .env.example read: in configuration.md or containers.md."""
    docs = (REPO / "docs" / "configuration.md").read_text() + (REPO / "docs" / "containers.md").read_text()
    variables = variables_read(CONTAINER_SOURCES)
    assert sorted(v for v in variables if f"`{v}`" not in docs) == []


# --- The scheduler --------------------------------------------------------------------------------


def next_run(after: dt.datetime, **environment: str) -> dt.datetime:
    epoch = str(int(after.timestamp()))
    result = run("docker/scheduler.sh", "next", epoch, env={"PATH": "/usr/bin:/bin", **environment})
    assert result.returncode == 0, result.stderr
    return dt.datetime.fromtimestamp(int(result.stdout), tz=dt.UTC)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_the_scheduler_runs_twice_a_week_after_maxmind_publishes():
    # 2026-11-23 is a Monday. Default: Wednesdays and Saturdays at 04:00 UTC.
    assert next_run(utc(2026, 11, 23, 10, 0)) == utc(2026, 11, 25, 4, 0)
    assert next_run(utc(2026, 11, 25, 3, 59, 59)) == utc(2026, 11, 25, 4, 0)
    assert next_run(utc(2026, 11, 25, 4, 0)) == utc(2026, 11, 28, 4, 0)
    assert next_run(utc(2026, 11, 28, 4, 0, 1)) == utc(2026, 12, 2, 4, 0)
    # Across the year's end, and on other days and times.
    late_mondays = {"UPDATE_DAYS": "1", "UPDATE_TIME": "23:30"}
    assert next_run(utc(2026, 12, 31, 23, 0), **late_mondays) == utc(2027, 1, 4, 23, 30)
    assert next_run(utc(2026, 11, 23, 23, 0), **late_mondays) == utc(2026, 11, 23, 23, 30)
    mondays_and_sundays = {**late_mondays, "UPDATE_DAYS": "1 7"}
    assert next_run(utc(2026, 11, 23, 23, 30), **mondays_and_sundays) == utc(2026, 11, 29, 23, 30)


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"UPDATE_TIME": "4am"}, "UPDATE_TIME must be HH:MM"),
        ({"UPDATE_TIME": "24:00"}, "UPDATE_TIME must be HH:MM"),
        ({"UPDATE_DAYS": "0 3"}, "UPDATE_DAYS must be weekday numbers"),
        ({"UPDATE_DAYS": "Wed"}, "UPDATE_DAYS must be weekday numbers"),
        ({"UPDATE_DAYS": " "}, "UPDATE_DAYS is empty"),
    ],
)
def test_the_scheduler_refuses_a_bad_schedule(environment, message):
    result = run("docker/scheduler.sh", "next", "0", env={"PATH": "/usr/bin:/bin", **environment})
    assert result.returncode == 2
    assert message in result.stderr


def test_the_scheduler_waits_for_its_time_and_stops_at_once_when_told(tmp_path):
    log = tmp_path / "scheduler.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            ["docker/scheduler.sh"],
            cwd=REPO,
            env={"PATH": f"{BIN}:/usr/bin:/bin", "UPDATE_DAYS": "1 2 3 4 5 6 7"},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while "next update_maxmind run" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "next update_maxmind run" in log.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    assert "stopping" in text
    assert "update_maxmind done" not in text
    assert "failed" not in text
    scheduled = dt.datetime.fromisoformat(re.search(r"next update_maxmind run: (\S+)", text)[1])
    assert scheduled.strftime("%H:%M") == "04:00"
    assert dt.timedelta(0) < scheduled - dt.datetime.now(dt.UTC) <= dt.timedelta(days=1)
