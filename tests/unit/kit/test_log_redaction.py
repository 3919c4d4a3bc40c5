import json
import logging

from crm_kit.logging import configure_logging, get_logger


def test_sensitive_values_never_reach_a_log_line(capsys):
    configure_logging(service="t", fmt="json", level="INFO")
    log = get_logger("t")
    log.info(
        "registered 110105194912310021 from 13812345678",
        phone="13912345678",
        extra_note="call 13712345678",
        id_document={"number": "11010519491231002X"},
    )
    logging.getLogger("third.party").warning("stdlib line with 15012345678")
    try:
        raise ValueError("bad id 11010519491231002X")
    except ValueError:
        log.exception("failed")
    err = capsys.readouterr().err
    for secret in (
        "110105194912310021",
        "13812345678",
        "13912345678",
        "13712345678",
        "11010519491231002X",
        "15012345678",
    ):
        assert secret not in err
    lines = [json.loads(line) for line in err.strip().splitlines()]
    assert lines[0]["service"] == "t" and lines[0]["phone"] == "[redacted]"
    assert "138****5678" in lines[0]["event"]
