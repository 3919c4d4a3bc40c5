"""MongoDB collections of the profile service, and how sensitive fields are sealed in them.

Sensitive values are stored only as AES-GCM ciphertext; exact lookups (duplicate ID check,
search by phone) use HMAC keyed hashes kept beside them. The queries on these collections are the
repositories' (adapters/repositories.py).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pymongo import ASCENDING, DESCENDING

from crm_kit.crypto import FieldCipher
from crm_kit.db import Mongo
from crm_kit.masking import mask_address, mask_birthday, mask_email, mask_id_number, mask_phone


class ProfileStore:
    """The profile's collections and their indexes."""

    def __init__(self, mongo: Mongo) -> None:
        db = mongo.db
        self.customers = db["customers"]
        self.history = db["customer_history"]
        self.balances = db["balance_history"]
        self.relationships = db["relationships"]
        self.audit = db["audit_log"]

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


class SensitiveFields:
    """How sensitive values are sealed in a customer's document, looked up by keyed hash, and opened again."""

    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher

    def id_lookup(self, doc_type: str, number: str) -> str:
        return self.cipher.lookup_hash(f"{doc_type}:{number}", kind="id_document")

    def phone_lookup(self, phone: str) -> str:
        return self.cipher.lookup_hash(phone, kind="phone")

    def seal(self, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Encrypt the sensitive values present in `values`. Returns (fields to store, lookup hashes)."""
        cipher = self.cipher
        out: dict[str, Any] = {}
        lookup: dict[str, Any] = {}
        if "id_document" in values:
            document = values["id_document"]
            out["id_document"] = {
                "type": document["type"],
                "number": cipher.encrypt(document["number"], field="id_document.number"),
            }
            lookup["lookup.id"] = self.id_lookup(document["type"], document["number"])
        if "phones" in values:
            out["phones"] = [cipher.encrypt(phone, field="phones") for phone in values["phones"]]
            lookup["lookup.phones"] = [self.phone_lookup(phone) for phone in values["phones"]]
        if "email" in values:
            out["email"] = cipher.encrypt(values["email"], field="email") if values["email"] else None
            lookup["lookup.email"] = cipher.lookup_hash(values["email"], kind="email") if values["email"] else None
        if "address" in values:
            out["address"] = cipher.encrypt(values["address"], field="address") if values["address"] else None
        if "birthday" in values:
            birthday = values["birthday"]
            out["birthday"] = (
                cipher.encrypt(birthday.isoformat() if isinstance(birthday, date) else birthday, field="birthday")
                if birthday
                else None
            )
        return out, lookup

    def open_sensitive(self, doc: dict[str, Any], *, reveal: bool) -> dict[str, Any]:
        """Decrypt sensitive fields for a response; masked unless `reveal`."""
        cipher = self.cipher
        idd = doc["id_document"]
        number = cipher.decrypt(idd["number"], field="id_document.number")
        phones = [cipher.decrypt(phone, field="phones") for phone in doc.get("phones") or []]
        email = cipher.decrypt(doc["email"], field="email") if doc.get("email") else None
        address = cipher.decrypt(doc["address"], field="address") if doc.get("address") else None
        birthday = cipher.decrypt(doc["birthday"], field="birthday") if doc.get("birthday") else None
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
            "phones": [mask_phone(phone) for phone in phones],
            "email": mask_email(email) if email else None,
            "address": mask_address(address) if address else None,
            "birthday": mask_birthday(birthday) if birthday else None,
        }

    def plain_sensitive(self, doc: dict[str, Any], name: str) -> Any:
        """One decrypted sensitive value, for comparing a PATCH with what is stored."""
        cipher = self.cipher
        if name == "phones":
            return [cipher.decrypt(phone, field="phones") for phone in doc.get("phones") or []]
        if name == "id_document":
            return {
                "type": doc["id_document"]["type"],
                "number": cipher.decrypt(doc["id_document"]["number"], field="id_document.number"),
            }
        if not doc.get(name):
            return None
        value = cipher.decrypt(doc[name], field=name)
        return date.fromisoformat(value) if name == "birthday" else value
