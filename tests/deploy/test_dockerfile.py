"""The Dockerfile keeps the rules a linter like hadolint would check, and those of this
project: stages that leave the build behind, a pinned slim base, a user without privileges,
no secret in a layer or the environment, a health check on the route the server serves, and
a worker target that adds the training code. No image is built here (no Docker daemon on
these machines): the file is read as text."""

from __future__ import annotations

import importlib.metadata
import re

from availability import require_installed
from deploy_files import ROOT, Stage, dockerfile_instructions, dockerfile_stages, stage_chain

SECRET_WORDS = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|PRIVATE|API_?KEY|CREDENTIAL", re.I)


def _stages() -> tuple[dict[str, str], list[Stage]]:
    return dockerfile_stages()


def test_the_build_stays_behind_in_its_own_stage() -> None:
    _, stages = _stages()
    names = [stage.name for stage in stages]
    assert {"build", "runtime", "worker", "server"} <= set(names)
    assert names[-1] == "server"  # `docker build .` gives the server
    runtime = {stage.name: stage for stage in stages}["runtime"]
    assert any(args.startswith("--from=build ") for args in runtime.all("COPY"))
    assert runtime.base != "build"  # a fresh base: pip's leftovers are not in the image


def test_the_base_image_is_a_pinned_slim_python() -> None:
    _, stages = _stages()
    names = {stage.name for stage in stages}
    for stage in stages:
        if stage.base in names:
            continue
        assert "$" not in stage.base, f"{stage.name}: unresolved {stage.base}"
        image, _, digest = stage.base.partition("@")
        repository, _, tag = image.partition(":")
        assert repository == "python" and "slim" in tag, stage.base
        pinned = re.match(r"\d+\.\d+\.\d+-", tag) or digest.startswith("sha256:")
        assert pinned, f"{stage.base} is not pinned to a patch release or a digest"


def test_every_image_runs_as_a_user_without_privileges() -> None:
    _, stages = _stages()
    for target in ("worker", "server"):
        users = [args for stage in stage_chain(stages, target) for args in stage.all("USER")]
        assert users, f"the {target} image runs as root"
        assert users[-1].split(":")[0] not in ("root", "0"), f"{target} ends as {users[-1]}"
    runtime = {stage.name: stage for stage in stages}["runtime"]
    creates = " ".join(runtime.all("RUN"))
    assert "useradd --system --uid 10001" in creates  # the uid the Kubernetes manifests name


def test_no_secret_is_baked_into_a_layer_or_the_environment() -> None:
    global_args, stages = _stages()
    for name in global_args:
        assert not SECRET_WORDS.search(name), f"ARG {name}"
    for stage in stages:
        for keyword, args in stage.instructions:
            if keyword in ("ENV", "ARG", "LABEL"):
                for name in re.findall(r"(\w+)=", args) or [args.split()[0]]:
                    assert not SECRET_WORDS.search(name), f"{stage.name}: {keyword} {args}"
            if keyword in ("COPY", "ADD"):
                sources = [w for w in args.split() if not w.startswith("--")][:-1]
                for source in sources:
                    assert "secret" not in source.lower() and not source.endswith(
                        (".pem", ".key", ".crt")), f"{stage.name}: {keyword} {args}"
            if keyword == "ADD":
                raise AssertionError(f"ADD in {stage.name}: COPY says what it does")
    ignored = (ROOT / ".dockerignore").read_text().split()
    for kept_out in (".git", ".venv", "deploy/secrets", "*.pem", "*.key", "tokens", "*.db"):
        assert kept_out in ignored, f".dockerignore lacks {kept_out}"


def test_the_package_is_installed_with_the_server_and_postgres_extras() -> None:
    _, stages = _stages()
    build = {stage.name: stage for stage in stages}["build"]
    assert any('pip install ".[server,postgres]"' in args for args in build.all("RUN"))
    extras = importlib.metadata.metadata("pipetune").get_all("Provides-Extra") or []
    assert {"server", "postgres"} <= set(extras)
    for stage in stages:  # what is copied from the context exists there
        for args in stage.all("COPY"):
            if "--from=" in args:
                continue
            for source in [w for w in args.split() if not w.startswith("--")][:-1]:
                if "$" not in source:
                    assert (ROOT / source).exists(), f"COPY {source}: no such file"


def test_the_server_image_checks_the_health_route_the_server_serves() -> None:
    require_installed("fastapi", extra="server")
    from pipetune.server import create_app
    from pipetune.storage import InMemoryStorage

    _, stages = _stages()
    server = {stage.name: stage for stage in stages}["server"]
    (check,) = server.all("HEALTHCHECK")
    url = re.search(r"https?://127\.0\.0\.1:(\d+)(/\S*?)\"", check)
    assert url, check
    routes = {getattr(route, "path", None) for route in create_app(InMemoryStorage()).routes}
    assert url[2] in routes and url[2] == "/api/v1/health"
    assert server.all("EXPOSE") == [url[1]]
    command = server.all("CMD")[0]
    assert '"--port", "8080"' in command and '"--token-file"' in command


def test_the_worker_target_adds_the_training_code_and_its_requirements() -> None:
    _, stages = _stages()
    worker = {stage.name: stage for stage in stages}["worker"]
    assert "TRAINING_CODE=deploy/example" in worker.all("ARG")
    assert "${TRAINING_CODE}/ /app/" in worker.all("COPY")
    assert worker.all("WORKDIR") == ["/app"]
    assert any("-r requirements.txt" in args for args in worker.all("RUN"))
    assert worker.all("HEALTHCHECK") == ["NONE"]  # a worker serves nothing to probe
    assert (ROOT / "deploy/example/train.py").exists()
    assert (ROOT / "deploy/example/requirements.txt").exists()


def test_pid_1_passes_signals_on_and_apt_leaves_no_lists() -> None:
    _, stages = _stages()
    runtime = {stage.name: stage for stage in stages}["runtime"]
    assert runtime.all("ENTRYPOINT") == ['["/usr/bin/tini", "--"]']
    for stage in stages:
        for args in stage.all("RUN"):
            if "apt-get install" in args:
                assert "--no-install-recommends" in args and "rm -rf /var/lib/apt/lists" in args


def test_instructions_are_read_across_continuations_and_comments() -> None:
    text = 'FROM a AS b\n# note\nRUN one \\\n    # inside\n    two\nCMD ["x"]\n'
    assert dockerfile_instructions(text) == [("FROM", "a AS b"), ("RUN", "one two"),
                                             ("CMD", '["x"]')]
