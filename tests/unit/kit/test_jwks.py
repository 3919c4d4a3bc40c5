"""RS256 tokens verified with keys from a JWKS URL (served here on loopback)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import HTTPException
from jwt.algorithms import RSAAlgorithm

from crm_kit.auth import Principal, Role, TokenVerifier
from crm_kit.crypto import new_key_b64
from crm_kit.settings import ServiceSettings


@pytest.fixture
def jwks_url():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/jwks.json", key
    server.shutdown()


def test_rs256_token_from_jwks(jwks_url):
    url, key = jwks_url
    settings = ServiceSettings(
        service_name="t",
        port=1,
        mongodb_database="x",
        crm_data_key=new_key_b64(),
        crm_lookup_key=new_key_b64(),
        crm_jwt_jwks_url=url,
        crm_jwt_issuer="https://sso.bank",
    )
    verifier = TokenVerifier(settings)
    claims = {
        "sub": "S7",
        "role": "rm_supervisor",
        "branch": "BR2",
        "iss": "https://sso.bank",
        "exp": int(time.time()) + 60,
    }
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
    assert verifier.verify(token) == Principal("S7", Role.RM_SUPERVISOR, "BR2")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(HTTPException):
        verifier.verify(jwt.encode(claims, other, algorithm="RS256", headers={"kid": "k1"}))
    with pytest.raises(HTTPException):
        verifier.verify(jwt.encode({**claims, "iss": "https://evil"}, key, algorithm="RS256", headers={"kid": "k1"}))
    with pytest.raises(HTTPException):  # HS256 is not accepted when only a JWKS is configured
        verifier.verify(jwt.encode(claims, "x" * 32, algorithm="HS256"))
