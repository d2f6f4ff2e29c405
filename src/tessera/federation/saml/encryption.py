"""Encrypted SAML assertions (XML Encryption 1.0/1.1, as IdPs use it for SAML):
``saml:EncryptedAssertion`` → ``xenc:EncryptedData`` (AES-CBC or AES-GCM) whose key
is an ``xenc:EncryptedKey`` (RSA-OAEP) either inside the EncryptedData's
``ds:KeyInfo`` or next to the EncryptedData. The key is tried with each of the SAML
provider's private keys (AddPrivateKey; at most two, for rotation).

Accepted algorithms [I: AWS documents AES-GCM and AES-CBC]:
data ``xmlenc#aes{128,192,256}-cbc``, ``xmlenc11#aes{128,192,256}-gcm``; key transport
``xmlenc#rsa-oaep-mgf1p`` and ``xmlenc11#rsa-oaep`` (SHA-1/224/256/384/512 digests and
MGF1 variants). RSA PKCS#1 v1.5 key transport is refused (padding-oracle prone).
Every failure is the same ``InvalidIdentityToken`` text, so the error tells an
attacker nothing about which step failed."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from tessera.errors import InvalidIdentityToken
from tessera.federation.saml.response import Decryptor
from tessera.federation.saml.xml import XMLDSIG, XMLENC, q, text_of

XMLENC11: Final = "http://www.w3.org/2009/xmlenc11#"

# [I]
DECRYPTION_FAILED: Final = (
    "Invalid SAML response: the encrypted assertion could not be decrypted with the SAML "
    "provider's private keys."
)

_CBC: Final = {
    XMLENC + "aes128-cbc": 16,
    XMLENC + "aes192-cbc": 24,
    XMLENC + "aes256-cbc": 32,
}
_GCM: Final = {
    XMLENC11 + "aes128-gcm": 16,
    XMLENC11 + "aes192-gcm": 24,
    XMLENC11 + "aes256-gcm": 32,
}
_DIGESTS: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    XMLDSIG + "sha1": hashes.SHA1,
    "http://www.w3.org/2001/04/xmldsig-more#sha224": hashes.SHA224,
    XMLENC + "sha256": hashes.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": hashes.SHA384,
    XMLENC + "sha512": hashes.SHA512,
}
_MGFS: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    XMLENC11 + "mgf1sha1": hashes.SHA1,
    XMLENC11 + "mgf1sha224": hashes.SHA224,
    XMLENC11 + "mgf1sha256": hashes.SHA256,
    XMLENC11 + "mgf1sha384": hashes.SHA384,
    XMLENC11 + "mgf1sha512": hashes.SHA512,
}
_OAEP_MGF1P: Final = XMLENC + "rsa-oaep-mgf1p"
_OAEP_11: Final = XMLENC11 + "rsa-oaep"


def _fail() -> InvalidIdentityToken:
    return InvalidIdentityToken(DECRYPTION_FAILED)


def _b64(element: etree._Element | None) -> bytes:
    text = text_of(element)
    if not text:
        raise _fail()
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail() from exc


def _cipher_value(parent: etree._Element) -> bytes:
    return _b64(parent.find(f"{q(XMLENC, 'CipherData')}/{q(XMLENC, 'CipherValue')}"))


def _oaep(method: etree._Element) -> padding.OAEP:
    algorithm = method.get("Algorithm")
    digest_el = method.find(q(XMLDSIG, "DigestMethod"))
    digest = _DIGESTS.get(digest_el.get("Algorithm", "") if digest_el is not None else "")
    if digest_el is None:
        digest = hashes.SHA1
    if digest is None:
        raise _fail()
    mgf_hash: type[hashes.HashAlgorithm] = hashes.SHA1
    if algorithm == _OAEP_11:
        mgf_el = method.find(q(XMLENC11, "MGF"))
        if mgf_el is not None:
            found = _MGFS.get(mgf_el.get("Algorithm", ""))
            if found is None:
                raise _fail()
            mgf_hash = found
    elif algorithm != _OAEP_MGF1P:
        raise _fail()  # includes rsa-1_5
    params = method.find(q(XMLENC, "OAEPparams"))
    label = _b64(params) if params is not None else None
    return padding.OAEP(mgf=padding.MGF1(mgf_hash()), algorithm=digest(), label=label)


def _encrypted_keys(holder: etree._Element, data: etree._Element) -> list[etree._Element]:
    inside = data.findall(f"{q(XMLDSIG, 'KeyInfo')}/{q(XMLENC, 'EncryptedKey')}")
    beside = holder.findall(q(XMLENC, "EncryptedKey"))
    return [*inside, *beside]


def _unwrap(keys: Sequence[etree._Element], private_keys: Sequence[rsa.RSAPrivateKey]) -> bytes:
    for encrypted_key in keys:
        method = encrypted_key.find(q(XMLENC, "EncryptionMethod"))
        if method is None:
            continue
        oaep = _oaep(method)
        wrapped = _cipher_value(encrypted_key)
        for private_key in private_keys:
            try:
                return private_key.decrypt(wrapped, oaep)
            except ValueError:
                continue
    raise _fail()


def _decrypt_data(algorithm: str, key: bytes, blob: bytes) -> bytes:
    if algorithm in _GCM:
        if len(key) != _GCM[algorithm] or len(blob) < 12 + 16:
            raise _fail()
        try:
            return AESGCM(key).decrypt(blob[:12], blob[12:], None)
        except InvalidTag as exc:
            raise _fail() from exc
    if algorithm in _CBC:
        if len(key) != _CBC[algorithm] or len(blob) < 32 or len(blob) % 16:
            raise _fail()
        decryptor = Cipher(algorithms.AES(key), modes.CBC(blob[:16])).decryptor()
        plain = decryptor.update(blob[16:]) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= 16:
            raise _fail()
        return plain[:-pad]
    raise _fail()


def decrypt_assertion(holder: etree._Element, private_keys: Sequence[rsa.RSAPrivateKey]) -> bytes:
    """The XML of the assertion inside the ``EncryptedAssertion`` ``holder``."""
    data = holder.find(q(XMLENC, "EncryptedData"))
    if data is None:
        raise _fail()
    method = data.find(q(XMLENC, "EncryptionMethod"))
    algorithm = method.get("Algorithm", "") if method is not None else ""
    key = _unwrap(_encrypted_keys(holder, data), private_keys)
    return _decrypt_data(algorithm, key, _cipher_value(data))


def decryptor_for(private_keys: Sequence[rsa.RSAPrivateKey]) -> Decryptor | None:
    """A ``Decryptor`` for ``verify_response``; None when there are no keys."""
    if not private_keys:
        return None
    keys = tuple(private_keys)

    def decrypt(holder: etree._Element) -> bytes:
        return decrypt_assertion(holder, keys)

    return decrypt
