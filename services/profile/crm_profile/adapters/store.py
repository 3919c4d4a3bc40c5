"""MongoDB collections of the profile service, and how sensitive fields are sealed in them.

Sensitive values are stored only as AES-GCM ciphertext; exact lookups (duplicate ID check,
search by phone) use HMAC keyed hashes kept beside them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pymongo import ASCENDING, DESCENDING

from crm_kit.crypto import FieldCipher
from crm_kit.db import Mongo
from crm_kit.masking import mask_address, mask_birthday, mask_email, mask_id_number, mask_phone


class ProfileStore:
    def __init__(self, mongo: Mongo, cipher: FieldCipher) -> None:
        db = mongo.db
        self.customers = db["customers"]
        self.history = db["customer_history"]
        self.balances = db["balance_history"]
        self.relationships = db["relationships"]
        self.audit = db["audit_log"]
        self.cipher = cipher

    async def ensure_indexes(self) -> None:
        await self.customers.create_index("lookup.id", unique=True, sparse=True, name="one_record_per_id_document")
        await self.customers.create_index(
            "core_customer_no", unique=True, sparse=True, name="one_record_per_core_customer"
        )
        await self.customers.create_index("lookup.merged_id", sparse=True)
        await self.customers.create_index("lookup.phones")
        await self.customers.create_index([("branch", ASCENDING), ("_id", ASCENDING)])
        await self.customers.create_index([("owner", ASCENDING), ("_id", ASCENDING)])
        await self.customers.create_index("tags")
        await self.customers.create_index("tier")
        await self.history.create_index([("customer_id", ASCENDING), ("at", ASCENDING)])
        await self.balances.create_index([("customer_id", ASCENDING), ("as_of", DESCENDING)])
        await self.relationships.create_index("from_id")
        await self.relationships.create_index("to_id")
        await self.audit.create_index([("customer_id", ASCENDING), ("at", ASCENDING)])

    # --- sealing ------------------------------------------------------------------------------

    def id_lookup(self, doc_type: str, number: str) -> str:
        return self.cipher.lookup_hash(f"{doc_type}:{number}", kind="id_document")

    def phone_lookup(self, phone: str) -> str:
        return self.cipher.lookup_hash(phone, kind="phone")

    def seal(self, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Encrypt the sensitive values present in `values`. Returns (fields to store, lookup hashes)."""
        c = self.cipher
        out: dict[str, Any] = {}
        lookup: dict[str, Any] = {}
        if "id_document" in values:
            d = values["id_document"]
            out["id_document"] = {"type": d["type"], "number": c.encrypt(d["number"], field="id_document.number")}
            lookup["lookup.id"] = self.id_lookup(d["type"], d["number"])
        if "phones" in values:
            out["phones"] = [c.encrypt(p, field="phones") for p in values["phones"]]
            lookup["lookup.phones"] = [self.phone_lookup(p) for p in values["phones"]]
        if "email" in values:
            out["email"] = c.encrypt(values["email"], field="email") if values["email"] else None
            lookup["lookup.email"] = c.lookup_hash(values["email"], kind="email") if values["email"] else None
        if "address" in values:
            out["address"] = c.encrypt(values["address"], field="address") if values["address"] else None
        if "birthday" in values:
            b = values["birthday"]
            out["birthday"] = c.encrypt(b.isoformat() if isinstance(b, date) else b, field="birthday") if b else None
        return out, lookup

    def open_sensitive(self, doc: dict[str, Any], *, reveal: bool) -> dict[str, Any]:
        """Decrypt sensitive fields for a response; masked unless `reveal`."""
        c = self.cipher
        idd = doc["id_document"]
        number = c.decrypt(idd["number"], field="id_document.number")
        phones = [c.decrypt(p, field="phones") for p in doc.get("phones") or []]
        email = c.decrypt(doc["email"], field="email") if doc.get("email") else None
        address = c.decrypt(doc["address"], field="address") if doc.get("address") else None
        birthday = c.decrypt(doc["birthday"], field="birthday") if doc.get("birthday") else None
        if reveal:
            return {
                "id_document": {"type": idd["type"], "number": number},
                "phones": phones,
                "email": email,
                "address": address,
                "birthday": birthday,
            }
        return {
            "id_document": {"type": idd["type"], "number": mask_id_number(number)},
            "phones": [mask_phone(p) for p in phones],
            "email": mask_email(email) if email else None,
            "address": mask_address(address) if address else None,
            "birthday": mask_birthday(birthday) if birthday else None,
        }

    def plain_sensitive(self, doc: dict[str, Any], name: str) -> Any:
        """One decrypted sensitive value, for comparing a PATCH with what is stored."""
        c = self.cipher
        if name == "phones":
            return [c.decrypt(p, field="phones") for p in doc.get("phones") or []]
        if name == "id_document":
            return {
                "type": doc["id_document"]["type"],
                "number": c.decrypt(doc["id_document"]["number"], field="id_document.number"),
            }
        if not doc.get(name):
            return None
        value = c.decrypt(doc[name], field=name)
        return date.fromisoformat(value) if name == "birthday" else value
