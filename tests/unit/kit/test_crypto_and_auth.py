import jwt
import pytest
from cryptography.exceptions import InvalidTag
from fastapi import HTTPException

from crm_kit.auth import Principal, Role, TokenVerifier, issue_token
from crm_kit.crypto import FieldCipher, new_key_b64
from crm_kit.scope import CUSTOMERS
from crm_kit.settings import ServiceSettings


def settings(**kw):
    base = dict(
        service_name="t",
        port=1,
        mongodb_database="x",
        crm_data_key=new_key_b64(),
        crm_lookup_key=new_key_b64(),
        crm_jwt_secret="s" * 32,
    )
    return ServiceSettings(**{**base, **kw})


def test_cipher_round_trip_and_field_binding():
    c = FieldCipher(data_key_b64=new_key_b64(), lookup_key_b64=new_key_b64())
    token = c.encrypt("13812345678", field="phones")
    assert "13812345678" not in token
    assert c.decrypt(token, field="phones") == "13812345678"
    with pytest.raises(InvalidTag):
        c.decrypt(token, field="email")  # a ciphertext cannot be moved to another field
    assert c.encrypt("x", field="f") != c.encrypt("x", field="f")  # fresh nonce each time
    assert c.lookup_hash("a", kind="phone") == c.lookup_hash("a", kind="phone") != c.lookup_hash("a", kind="email")


def test_bad_keys_are_refused():
    with pytest.raises(ValueError):
        settings(crm_data_key="short")


def test_token_round_trip_and_tampering():
    s = settings()
    v = TokenVerifier(s)
    tok = issue_token(secret="s" * 32, staff_id="S1", role="branch_manager", branch="BR001")
    assert v.verify(tok) == Principal("S1", Role.BRANCH_MANAGER, "BR001")
    with pytest.raises(HTTPException) as e:
        v.verify(issue_token(secret="t" * 32, staff_id="S1", role="admin", branch=None))
    assert e.value.status_code == 401
    with pytest.raises(HTTPException):
        v.verify(jwt.encode({"sub": "S1", "role": "admin"}, "s" * 32, algorithm="HS256"))  # no exp
    with pytest.raises(HTTPException):
        v.verify(jwt.encode({"sub": "S1", "role": "king", "exp": 2**31}, "s" * 32, algorithm="HS256"))


def test_scope_rules():
    rm = Principal("S1", Role.RELATIONSHIP_MANAGER, "BR1")
    bm = Principal("S9", Role.BRANCH_MANAGER, "BR1")
    ho = Principal("H1", Role.HEAD_OFFICE, None)
    aud = Principal("A1", Role.AUDITOR, None)

    def sees(who, owner, branch):
        return CUSTOMERS.allows(who, {"owner": owner, "branch": branch})

    assert sees(rm, "S1", "BR2") and not sees(rm, "S2", "BR1")
    assert sees(bm, "S2", "BR1") and not sees(bm, "S9", "BR2")
    assert sees(ho, None, None) and CUSTOMERS.query(ho) == {}
    assert CUSTOMERS.query(rm) == {"owner": "S1"} and CUSTOMERS.query(bm) == {"branch": "BR1"}
    assert sees(aud, "x", "y") and not aud.may_write and not aud.may_reveal
    assert rm.may_reveal and not ho.may_reveal
