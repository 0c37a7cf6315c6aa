"""`epcctl subscriber ...` run as an operator runs it: a real process on a config file, against
SQLite and a real ZooKeeper. Every failure is one line on stderr with the documented code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from epc.store.sqlite import SqliteStore
from epc.subscriber import (
    Subscriber,
    decode_subscriber,
    encode_subscriber,
    format_csv,
    generate,
    parse_csv,
    subscriber_path,
)

pytestmark = pytest.mark.mme

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120
K = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")
OPC = bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf")
OP = "cdc202d5123e20f62b6d676ac72cb318"
CSV = f"""\
# two phones of the lab
imsi,k,opc,op,amf,sqn,apn,qci,ambr_ul_kbps,ambr_dl_kbps
001010000000001,{K.hex()},{OPC.hex()},,8000,0,internet,9,50000,100000
001010000000002,{K.hex()},,{OP},,33,ims,5,,
"""


def epcctl(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "epc.epcctl", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return result.stdout


def failed(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The single stderr line of a failed run (and no traceback, no output)."""
    assert result.returncode == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""
    return lines[0]


@pytest.fixture
def database(tmp_path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def config(tmp_path, database) -> Path:
    """An MME-style config (with a table of the daemon's own, which epcctl ignores)."""
    path = tmp_path / "mme.toml"
    path.write_text(
        'deployment = "lab"\n'
        '[log]\nlevel = "debug"\n'
        f'[store]\nbackend = "sqlite"\n[store.sqlite]\npath = "{database}"\n'
        'synchronous = "normal"\n'
        '[s1ap]\nplmn = "00101"\n'
    )
    return path


@pytest.fixture
def csv_file(tmp_path) -> Path:
    path = tmp_path / "subscribers.csv"
    path.write_text(CSV)
    return path


async def stored(database: Path, imsi: str, deployment: str = "lab") -> Subscriber | None:
    store = await SqliteStore.open(database)
    try:
        node = await store.get(subscriber_path(deployment, imsi))
        return None if node is None else decode_subscriber(node.value, imsi)
    finally:
        await store.close()


# --- the commands --------------------------------------------------------------------------


async def test_import_stores_exactly_what_the_csv_says(config, csv_file, database):
    output = succeeded(epcctl("subscriber", "import", csv_file, "--config", config))

    assert output == "imported 2 subscribers (2 new, 0 replaced)\n"
    for expected in parse_csv(CSV):
        assert await stored(database, expected.imsi) == expected


def test_list_prints_a_table_and_json_without_secrets(config, csv_file):
    succeeded(epcctl("--config", config, "subscriber", "import", csv_file))

    table = succeeded(epcctl("subscriber", "list", "--config", config))
    listed = json.loads(succeeded(epcctl("subscriber", "list", "--json", "--config", config)))

    assert table.splitlines() == [
        "IMSI             APN       QCI  SQN",
        "001010000000001  internet  9    0",
        "001010000000002  ims       5    33",
    ]
    assert [record["imsi"] for record in listed] == ["001010000000001", "001010000000002"]
    assert listed[1]["sqn"] == 33 and listed[1]["amf"] == "8000"
    assert not {"k", "opc"} & set(listed[0])


def test_show_masks_k_and_opc_unless_asked_for_secrets(config, csv_file):
    succeeded(epcctl("subscriber", "import", csv_file, "--config", config))

    masked = succeeded(epcctl("subscriber", "show", "001010000000002", "--config", config))
    secret = json.loads(
        succeeded(
            epcctl(
                "subscriber", "show", "001010000000002", "--json", "--secrets", "--config", config
            )
        )
    )

    assert K.hex() not in masked and OPC.hex() not in masked
    assert "k             ********" in masked and "apn           ims" in masked
    assert secret["k"] == K.hex()
    assert secret["opc"] == parse_csv(CSV)[1].opc.hex()  # derived from OP


async def test_add_then_remove(config, database):
    added = epcctl(
        *("subscriber", "add", "--config", config, "--imsi", "001010000000003"),
        *("--k", K.hex(), "--op", OP, "--apn", "web", "--qci", "7"),
        *("--sqn", "64", "--ambr-ul", "1000", "--ambr-dl", "2000"),
    )
    assert succeeded(added) == "added subscriber 001010000000003\n"
    record = await stored(database, "001010000000003")
    assert (record.apn, record.qci, record.sqn, record.ambr_ul_kbps) == ("web", 7, 64, 1000)
    assert record.opc == parse_csv(CSV)[1].opc

    removed = epcctl("subscriber", "remove", "001010000000003", "--config", config)

    assert succeeded(removed) == "removed subscriber 001010000000003\n"
    assert await stored(database, "001010000000003") is None


async def test_import_of_an_existing_imsi_names_it_and_writes_nothing(config, csv_file, tmp_path):
    succeeded(epcctl("subscriber", "add", "--config", config, "--imsi", "001010000000002",
                     "--k", K.hex(), "--opc", OPC.hex()))  # fmt: skip

    line = failed(epcctl("subscriber", "import", csv_file, "--config", config), 1)

    assert "subscriber 001010000000002 already exists" in line and "--replace" in line
    assert await stored(tmp_path / "store.db", "001010000000001") is None


async def test_replace_overwrites_but_never_moves_sqn_back(config, csv_file, database):
    succeeded(epcctl("subscriber", "import", csv_file, "--config", config))
    store = await SqliteStore.open(database)
    path = subscriber_path("lab", "001010000000001")
    node = await store.get(path)
    advanced = msgspec.structs.replace(decode_subscriber(node.value, path), sqn=4096)
    await store.put(path, encode_subscriber(advanced), node.version)
    await store.close()
    changed = CSV.replace(",internet,9,", ",web,8,")  # sqn 0 in the file

    csv_file.write_text(changed)
    output = succeeded(epcctl("subscriber", "import", csv_file, "--replace", "--config", config))

    assert output == "imported 2 subscribers (0 new, 2 replaced)\n"
    record = await stored(database, "001010000000001")
    assert (record.apn, record.qci, record.sqn) == ("web", 8, 4096)
    assert (await stored(database, "001010000000002")).sqn == 33


def test_ten_thousand_subscribers_import_in_batches(config, tmp_path):
    many = generate("001010000100000", 10_000, K, OPC, apn="internet")
    path = tmp_path / "many.csv"
    path.write_text(format_csv(many))

    output = succeeded(epcctl("subscriber", "import", path, "--config", config))
    table = succeeded(epcctl("subscriber", "list", "--config", config))

    assert output == "imported 10000 subscribers (10000 new, 0 replaced)\n"
    assert len(table.splitlines()) == 1 + 10_000
    assert table.splitlines()[-1].startswith("001010000109999  internet")


# --- errors --------------------------------------------------------------------------------


def test_a_bad_csv_line_is_a_usage_error_naming_line_and_column(config, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(CSV.replace(f"{K.hex()},,{OP}", f"{K.hex()},,nothex"))

    line = failed(epcctl("subscriber", "import", path, "--config", config), 2)

    assert line == f"epcctl: {path}:4: op: not hex: 'nothex'"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ("show", "001010000000009"),
            1,
            "epcctl: no subscriber 001010000000009 in deployment 'lab'",
        ),
        (("remove", "001010000000009"), 1, "epcctl: no subscriber 001010000000009"),
        (("show", "12"), 2, "epcctl subscriber show: IMSI: expected 6 to 15 digits, got '12'"),
        (("add", "--imsi", "001010000000001", "--k", "00"), 2, "one of the arguments --opc --op"),
        (("add", "--imsi", "001010000000001", "--k", "zz", "--opc", OPC.hex()), 2, "k: not hex"),
        (("import", "missing.csv"), 2, "epcctl: missing.csv: No such file or directory"),
        (("frob",), 2, "invalid choice: 'frob'"),
    ],
)
def test_errors_are_one_line_with_their_exit_code(config, args, code, message):
    line = failed(epcctl("subscriber", *args, "--config", config), code)
    assert message in line


def test_an_existing_imsi_cannot_be_added_twice(config):
    add = ("subscriber", "add", "--config", config, "--imsi", "001010000000001",
           "--k", K.hex(), "--opc", OPC.hex())  # fmt: skip
    succeeded(epcctl(*add))

    line = failed(epcctl(*add), 1)

    assert (
        line
        == "epcctl: subscriber 001010000000001 already exists in deployment 'lab'; remove it first"
    )


def test_a_missing_config_option_is_a_usage_error():
    assert "--config is required" in failed(epcctl("subscriber", "list"), 2)


def test_a_bad_config_names_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[store]\nbackend = "etcd"\n')

    line = failed(epcctl("subscriber", "list", "--config", path), 2)

    assert (
        line == f'epcctl: {path}: store.backend: expected one of "sqlite", "zookeeper", got "etcd"'
    )


def test_an_unreachable_store_is_a_runtime_error(tmp_path):
    path = tmp_path / "unreachable.toml"
    path.write_text(f'[store.sqlite]\npath = "{tmp_path}/no/such/dir/store.db"\n')

    line = failed(epcctl("subscriber", "list", "--config", path), 1)

    assert line.startswith("epcctl: cannot open SQLite store") and "no/such/dir" in line


# --- ZooKeeper -----------------------------------------------------------------------------


def zookeeper_config(tmp_path: Path, hosts: str, deployment: str, deadline_s: float = 15) -> Path:
    path = tmp_path / "zookeeper.toml"
    path.write_text(
        f'deployment = "{deployment}"\n[store]\nbackend = "zookeeper"\n'
        f'[store.zookeeper]\nhosts = ["{hosts}"]\n[store.retry]\ndeadline_s = {deadline_s}\n'
    )
    return path


def test_the_whole_cycle_against_zookeeper(zookeeper, root, tmp_path):
    config = zookeeper_config(tmp_path, zookeeper.hosts, root.lstrip("/"))
    many = generate("001010000200000", 450, K, OPC)  # three import batches
    path = tmp_path / "many.csv"
    path.write_text(format_csv(many))

    imported = succeeded(epcctl("subscriber", "import", path, "--config", config))
    clash = failed(epcctl("subscriber", "import", path, "--config", config), 1)
    replaced = succeeded(epcctl("subscriber", "import", path, "--replace", "--config", config))
    listed = json.loads(succeeded(epcctl("subscriber", "list", "--json", "--config", config)))
    shown = json.loads(
        succeeded(
            epcctl("subscriber", "show", many[7].imsi, "--json", "--secrets", "--config", config)
        )
    )
    removed = succeeded(epcctl("subscriber", "remove", many[7].imsi, "--config", config))
    gone = failed(epcctl("subscriber", "show", many[7].imsi, "--config", config), 1)

    assert imported == "imported 450 subscribers (450 new, 0 replaced)\n"
    assert "subscriber 001010000200000 already exists" in clash and "(and 449 more)" in clash
    assert replaced == "imported 450 subscribers (0 new, 450 replaced)\n"
    assert [record["imsi"] for record in listed] == [s.imsi for s in many]
    assert (shown["imsi"], shown["k"], shown["opc"]) == (many[7].imsi, K.hex(), OPC.hex())
    assert removed == f"removed subscriber {many[7].imsi}\n"
    assert gone.startswith(f"epcctl: no subscriber {many[7].imsi}")


def test_an_unreachable_zookeeper_is_a_runtime_error(tmp_path):
    config = zookeeper_config(tmp_path, "127.0.0.1:1", "lab", deadline_s=1)

    line = failed(epcctl("subscriber", "list", "--config", config), 1)

    assert line == "epcctl: no ZooKeeper server of 127.0.0.1:1 answered within 1.0 s"
