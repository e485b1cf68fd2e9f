# row: R15
# attack: Decompression bomb: 512 concatenated gzip members of 1 MiB of zeros each (about 500 KiB that
#   inflate to 512 MiB). Streamed to /tmp in 8 MiB files it must stop at the tmpfs cap (ENOSPC); inflated
#   in memory it must be OOM-killed at the 128 MiB limit.
# expect-status: memory_exceeded
# expect-signal: 9
# expect-stdout-contains: decompress-to-tmp: DENIED errno=ENOSPC
# expect-stdout-contains: decompress-in-memory: start
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=10 memory_mb=128 workdir_mb=32
# canary: overlap
import errno
import gzip
import io
import shutil
import time

member = gzip.compress(bytes(1 << 20), compresslevel=9)
bomb = member * 512
print(f"bomb: {len(bomb)} bytes inflating to 512 MiB", flush=True)
written = 0
try:
    with gzip.GzipFile(fileobj=io.BytesIO(bomb)) as stream:
        for i in range(64):
            with open(f"/tmp/out-{i}", "wb") as out:
                for _ in range(8):
                    chunk = stream.read(1 << 20)
                    out.write(chunk)
                    written += len(chunk)
    print(f"decompress-to-tmp: ALLOWED {written} bytes", flush=True)
except OSError as exc:
    print(f"decompress-to-tmp: DENIED errno={errno.errorcode[exc.errno]} after {written} bytes", flush=True)
shutil.rmtree("/tmp", ignore_errors=True)
time.sleep(3)
print("decompress-in-memory: start", flush=True)
data = gzip.decompress(bomb)
print(f"decompress-in-memory: ALLOWED {len(data)} bytes", flush=True)
