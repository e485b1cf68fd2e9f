"""hashlib, hmac, base64, binascii, struct, zlib and uuid on some bytes."""

import base64
import binascii
import hashlib
import hmac
import struct
import uuid
import zlib

payload = ("The quick brown fox jumps over the lazy dog. " * 20).encode()

print("sha256", hashlib.sha256(payload).hexdigest()[:16])
print("md5 checksum", hashlib.md5(payload).hexdigest())
print("blake2b", hashlib.blake2b(payload, digest_size=8).hexdigest())
digest = hashlib.sha256()
for start in range(0, len(payload), 64):
    digest.update(payload[start : start + 64])
assert digest.hexdigest() == hashlib.sha256(payload).hexdigest()

signature = hmac.new(b"secret-key", payload, hashlib.sha256).hexdigest()
print("hmac ok", hmac.compare_digest(signature, hmac.new(b"secret-key", payload, "sha256").hexdigest()))

encoded = base64.b64encode(b"\x00\xffhello")
print(encoded, base64.b64decode(encoded), base64.urlsafe_b64encode(b"??>>"), binascii.hexlify(b"hi"))

compressed = zlib.compress(payload, level=9)
print(f"zlib {len(payload)} -> {len(compressed)} bytes, crc32 {zlib.crc32(payload):08x}")
assert zlib.decompress(compressed) == payload

header = struct.pack("<4sHIf", b"DATA", 2, 1024, 0.5)
magic, version, length, ratio = struct.unpack("<4sHIf", header)
print(len(header), magic, version, length, ratio, struct.calcsize(">iq"))

fixed = uuid.uuid5(uuid.NAMESPACE_DNS, "example.org")
print(fixed, fixed.version, len(uuid.uuid4().hex), uuid.UUID(str(fixed)) == fixed)
