"""Fixed, deterministic message contents for the sample captures.

Every builder returns the exact message bytes as they go on the wire after DATA
(CRLF line endings, NOT dot-stuffed, ending with CRLF, without the final "." line).
The ground truth (size / sha256) is computed from these bytes.
"""
import base64
import hashlib

DATE = "Tue, 25 Nov 2025 10:00:00 +0000"
CRLF = b"\r\n"


def crlf(text):
    """Text (str with \\n) -> bytes with CRLF line endings, ending in CRLF."""
    if isinstance(text, str):
        text = text.encode("utf-8")
    text = text.replace(b"\r\n", b"\n")
    if not text.endswith(b"\n"):
        text += b"\n"
    return text.replace(b"\n", b"\r\n")


def simple(msgid, frm, to, subject, body, extra_headers=""):
    """A plain ASCII message with fixed Date and Message-ID."""
    hdr = (f"From: {frm}\nTo: {to}\nSubject: {subject}\nDate: {DATE}\n"
           f"Message-ID: <{msgid}>\nMIME-Version: 1.0\n"
           f"Content-Type: text/plain; charset=us-ascii\n"
           f"Content-Transfer-Encoding: 7bit\n{extra_headers}\n")
    return crlf(hdr + body)


def header_mid(msg_bytes):
    import re
    return re.search(rb"^Message-ID: <([^>]*)>", msg_bytes, re.M | re.I).group(1).decode()


def b64lines(data, width=76):
    enc = base64.b64encode(data).decode()
    return "\n".join(enc[i:i + width] for i in range(0, len(enc), width)) + "\n"


def sha(b):
    return hashlib.sha256(b).hexdigest()


# --- the GBK / attachment message ------------------------------------------------
GBK_SUBJECT = "测试邮件主题"
BIG5_NAME = "陳大文"
LATIN1_NAME = "José Müller"
ATT1_NAME = "report.bin"
ATT1 = bytes(range(256)) * 8                       # 2048 bytes, binary
ATT2_NAME = "报告-2025.txt"                           # RFC 2231 filename*=utf-8''...
ATT2 = ("报告内容：第一行\n第二行 line two\n" * 3).encode("utf-8")
ATT3_NAME = "数据表.csv"                              # RFC 2047 in filename="=?gbk?B?...?="
ATT3 = "名称,数量\n苹果,3\n香蕉,5\n".encode("gbk")


def rfc2231(name):
    from urllib.parse import quote
    return "utf-8''" + quote(name.encode("utf-8"), safe="")


def gbk_attachment():
    subj = "=?gbk?B?" + base64.b64encode(GBK_SUBJECT.encode("gbk")).decode() + "?="
    frm = "=?big5?B?" + base64.b64encode(BIG5_NAME.encode("big5")).decode() + "?= <ana@sample.test>"
    to = "=?iso-8859-1?Q?Jos=E9_M=FCller?= <ben@sample.test>"
    att3_enc = "=?gbk?B?" + base64.b64encode(ATT3_NAME.encode("gbk")).decode() + "?="
    body = "你好，\n这是一封测试邮件，带有附件。\n".encode("gbk")
    b = "=_pcapmail_sample_7"
    text = (f"From: {frm}\nTo: {to}\nSubject: {subj}\nDate: {DATE}\n"
            f"Message-ID: <gbk-attach-1@sample.test>\nMIME-Version: 1.0\n"
            f"Content-Type: multipart/mixed; boundary=\"{b}\"\n\n"
            f"This is a multi-part message in MIME format.\n\n"
            f"--{b}\nContent-Type: text/plain; charset=gbk\nContent-Transfer-Encoding: base64\n\n"
            + b64lines(body) +
            f"\n--{b}\nContent-Type: application/octet-stream; name=\"{ATT1_NAME}\"\n"
            f"Content-Disposition: attachment; filename=\"{ATT1_NAME}\"\n"
            f"Content-Transfer-Encoding: base64\n\n" + b64lines(ATT1) +
            f"\n--{b}\nContent-Type: text/plain; charset=utf-8; name*={rfc2231(ATT2_NAME)}\n"
            f"Content-Disposition: attachment; filename*={rfc2231(ATT2_NAME)}\n"
            f"Content-Transfer-Encoding: base64\n\n" + b64lines(ATT2) +
            f"\n--{b}\nContent-Type: text/csv; charset=gbk; name=\"{att3_enc}\"\n"
            f"Content-Disposition: attachment; filename=\"{att3_enc}\"\n"
            f"Content-Transfer-Encoding: base64\n\n" + b64lines(ATT3) +
            f"\n--{b}--\n")
    atts = [
        {"filename": ATT1_NAME, "filename_raw": ATT1_NAME, "content_type": "application/octet-stream",
         "size": len(ATT1), "sha256": sha(ATT1)},
        {"filename": ATT2_NAME, "filename_raw": "filename*=" + rfc2231(ATT2_NAME),
         "content_type": "text/plain", "size": len(ATT2), "sha256": sha(ATT2)},
        {"filename": ATT3_NAME, "filename_raw": att3_enc, "content_type": "text/csv",
         "size": len(ATT3), "sha256": sha(ATT3)},
    ]
    headers = {"from_raw": frm, "from_decoded": f"{BIG5_NAME} <ana@sample.test>",
               "to_raw": to, "to_decoded": f"{LATIN1_NAME} <ben@sample.test>",
               "subject_raw": subj, "body_text_charset": "gbk",
               "body_text": "你好，\n这是一封测试邮件，带有附件。\n"}
    return crlf(text), GBK_SUBJECT, "gbk-attach-1@sample.test", atts, headers


DOT_BODY = """This body has lines that begin with a dot.
.hidden line starting with one dot
..line starting with two dots
.
The line above is a single dot inside the body (sent as "..").
. dot space
...
Last line.
"""


def large(target=3_600_000):
    """A several-MB message: numbered text part + base64 attachment of a repeating pattern."""
    b = "=_pcapmail_large"
    lines = "".join(f"Line {i:06d}: the quick brown fox jumps over the lazy dog.\n" for i in range(1, 2001))
    block = bytes((i * 7 + 3) % 256 for i in range(57 * 32))   # 1824 bytes: base64 period = 32 lines
    n = max(1, (target - 200_000) * 3 // 4 // len(block))
    att = block * n
    text = (f"From: Ana <ana@sample.test>\nTo: cyd@sample.test\nSubject: Large message for POP3 RETR\n"
            f"Date: {DATE}\nMessage-ID: <large-1@sample.test>\nMIME-Version: 1.0\n"
            f"Content-Type: multipart/mixed; boundary=\"{b}\"\n\n"
            f"--{b}\nContent-Type: text/plain; charset=us-ascii\n\n{lines}"
            f"\n--{b}\nContent-Type: application/octet-stream; name=\"pattern.bin\"\n"
            f"Content-Disposition: attachment; filename=\"pattern.bin\"\n"
            f"Content-Transfer-Encoding: base64\n\n" + b64lines(att) + f"\n--{b}--\n")
    atts = [{"filename": "pattern.bin", "content_type": "application/octet-stream",
             "size": len(att), "sha256": sha(att)}]
    return crlf(text), "Large message for POP3 RETR", "large-1@sample.test", atts
