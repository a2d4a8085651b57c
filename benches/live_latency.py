"""Live pipe latency: writes a generated capture into `pcapmail analyze --format jsonl -`
packet by packet, paced, and measures for each session the time from the write of its
last packet (the one that ends it) to the arrival of its record on the other side.
Usage: live_latency.py PCAPMAIL GEN_CAPTURE N_SESSIONS"""
import json, os, struct, subprocess, sys, tempfile, threading, time

pcapmail, gen, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
tmp = tempfile.mkdtemp()
cap = os.path.join(tmp, "live.pcap")
# Few connections at once so that sessions end one after another.
subprocess.run([gen, "--size-mb", "3", "--mail-percent", "100", "--concurrent", "4",
                "--max-attachment", "2000", "--seed", "9", "-o", cap], check=True,
               stdout=subprocess.DEVNULL)
data = open(cap, "rb").read()
head, recs, off = data[:24], [], 24
while off + 16 <= len(data):
    cl = struct.unpack("<I", data[off + 8:off + 12])[0]
    recs.append(data[off:off + 16 + cl])
    off += 16 + cl
p = subprocess.Popen([pcapmail, "analyze", "--format", "jsonl", "-q", "-"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
arrivals = {}
def reader():
    for line in p.stdout:
        r = json.loads(line)
        if r.get("type") == "session":
            arrivals[r["last_frame"]] = time.monotonic()
t = threading.Thread(target=reader, daemon=True)
t.start()
written = {}
p.stdin.write(head)
for i, r in enumerate(recs, 1):
    p.stdin.write(r)
    p.stdin.flush()
    written[i] = time.monotonic()
    if len(arrivals) >= n:
        break
    time.sleep(0.0005)
time.sleep(1.0)
lat = sorted([(arrivals[f] - written[f]) * 1000 for f in sorted(arrivals) if f in written][:n])
p.stdin.close()
p.wait()
if not lat:
    sys.exit("no session arrived")
print(f"live: {len(lat)} sessions, latency median {lat[len(lat)//2]:.1f} ms, max {lat[-1]:.1f} ms")
