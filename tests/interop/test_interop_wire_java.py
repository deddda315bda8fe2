"""Interop with Apache Avro for Java and the JDK's Ed25519: fingerprints, decoding, signatures.

The Java program below (compiled here, against ``org.apache.avro:avro:1.12.0``
fetched by Maven) computes each schema's Parsing Canonical Form fingerprints
with ``SchemaNormalization`` and reads every wire vector: frames, envelope,
header, disclosures, the producer's signature over PAE, and the payload record.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import schemas

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "wire"
SEALED = VECTORS.parent / "sealed"

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>trm</groupId><artifactId>wire-interop</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.avro</groupId><artifactId>avro</artifactId><version>1.12.0</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-nop</artifactId><version>2.0.16</version></dependency>
  </dependencies>
</project>
"""

JAVA = r"""import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.util.*;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;

/** Reads trm-hub schemas and wire vectors with Apache Avro (Java) and the JDK's Ed25519. */
public class WireInterop {
  static String hex(byte[] b) {
    StringBuilder s = new StringBuilder();
    for (byte x : b) s.append(String.format("%02x", x));
    return s.toString();
  }
  static byte[] unhex(String h) {
    byte[] out = new byte[h.length() / 2];
    for (int i = 0; i < out.length; i++) out[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
    return out;
  }
  static byte[] crc(Schema s) {
    long fp = SchemaNormalization.parsingFingerprint64(s);
    return ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(fp).array();
  }
  static byte[] sha256(byte[] b) throws Exception { return MessageDigest.getInstance("SHA-256").digest(b); }
  static Object decode(Schema s, byte[] body) throws Exception {
    BinaryDecoder d = DecoderFactory.get().binaryDecoder(body, null);
    Object v = new GenericDatumReader<Object>(s).read(null, d);
    if (!d.isEnd()) throw new IllegalStateException("bytes left over");
    return v;
  }
  static byte[] bytes(Object o) {
    ByteBuffer b = ((ByteBuffer) o).duplicate();
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }
  static byte[] pae(String type, byte[] body) {
    byte[] t = type.getBytes(StandardCharsets.UTF_8);
    byte[] head = ("DSSEv1 " + t.length + " " + type + " " + body.length + " ").getBytes(StandardCharsets.UTF_8);
    byte[] out = Arrays.copyOf(head, head.length + body.length);
    System.arraycopy(body, 0, out, head.length, body.length);
    return out;
  }

  public static void main(String[] args) throws Exception {
    File schemaDir = new File(args[0]);
    Map<String, Schema> schemas = new TreeMap<>();
    for (File f : Objects.requireNonNull(schemaDir.listFiles())) {
      if (!f.getName().endsWith(".avsc")) continue;
      Schema s = new Schema.Parser().parse(f);
      String name = f.getName().replace(".avsc", "");
      schemas.put(name, s);
      String pcf = SchemaNormalization.toParsingForm(s);
      System.out.println("schema " + name + " " + hex(crc(s)) + " " + hex(sha256(pcf.getBytes(StandardCharsets.UTF_8))));
    }
    // The v1 envelope (what v1 events are framed with), released beside the current v2.
    Schema v1 = new Schema.Parser().parse(new File(schemaDir, "released/envelope/v1.avsc"));
    schemas.put("envelope@1", v1);
    System.out.println("schema envelope@1 " + hex(crc(v1)) + " " + hex(sha256(SchemaNormalization.toParsingForm(v1).getBytes(StandardCharsets.UTF_8))));
    ObjectMapper json = new ObjectMapper();
    Map<String, PublicKey> keys = new HashMap<>();
    KeyFactory kf = KeyFactory.getInstance("Ed25519");
    byte[] spkiPrefix = unhex("302a300506032b6570032100");
    for (int a = 1; a < args.length; a++) {
      File dir = new File(args[a]);
      // trust.json is a signed trust list (protocol.md section 6): the keys are in signed.keys
      for (JsonNode k : json.readTree(new File(dir, "trust.json")).get("signed").get("keys")) {
        byte[] raw = java.util.Base64.getDecoder().decode(k.get("public").asText());
        byte[] spki = Arrays.copyOf(spkiPrefix, 44);
        System.arraycopy(raw, 0, spki, 12, 32);
        keys.put(k.get("key_id").asText(), kf.generatePublic(new X509EncodedKeySpec(spki)));
      }
      readVectors(dir, a == 1 ? "" : dir.getName() + "/", schemas, keys, json);
    }
  }

  static byte[] domainDigest(String domain, byte[] body) throws Exception {
    byte[] d = (domain + "\0").getBytes(StandardCharsets.UTF_8);
    byte[] all = Arrays.copyOf(d, d.length + body.length);
    System.arraycopy(body, 0, all, d.length, body.length);
    return sha256(all);
  }

  static void readVectors(File vectorDir, String prefix, Map<String, Schema> schemas,
      Map<String, PublicKey> keys, ObjectMapper json) throws Exception {
    File[] files = Objects.requireNonNull(vectorDir.listFiles());
    Arrays.sort(files);
    for (File f : files) {
      if (!f.getName().startsWith("good-") && !f.getName().startsWith("bad-")) continue;
      JsonNode v = json.readTree(f);
      byte[] env = unhex(v.get("envelope").asText());
      String result;
      try {
        if (env[0] != (byte) 0xc3 || env[1] != 0x01) throw new IllegalStateException("frame");
        byte[] fp = Arrays.copyOfRange(env, 2, 10);
        Schema es = Arrays.equals(fp, crc(schemas.get("envelope"))) ? schemas.get("envelope")
            : Arrays.equals(fp, crc(schemas.get("envelope@1"))) ? schemas.get("envelope@1") : null;
        if (es == null) throw new IllegalStateException("envelope fingerprint");
        GenericRecord e = (GenericRecord) decode(es, Arrays.copyOfRange(env, 10, env.length));
        byte[] hb = bytes(e.get("header"));
        if (!Arrays.equals(Arrays.copyOfRange(hb, 2, 10), crc(schemas.get("header")))) throw new IllegalStateException("header fingerprint");
        GenericRecord h = (GenericRecord) decode(schemas.get("header"), Arrays.copyOfRange(hb, 10, hb.length));
        GenericRecord sig = (GenericRecord) e.get("signature");
        PublicKey pk = keys.get(sig.get("key_id").toString());
        boolean sigOk = false;
        if (pk != null) {
          java.security.Signature ver = java.security.Signature.getInstance("Ed25519");
          ver.initVerify(pk);
          ver.update(pae("application/vnd.trm.header.v1+avro", hb));
          sigOk = ver.verify(bytes(sig.get("sig")));
        }
        Set<String> listed = new HashSet<>();
        for (Object d : (List<?>) h.get("disclosure_digests")) listed.add(hex(((GenericData.Fixed) d).bytes()));
        boolean digestsOk = true;
        List<String> fields = new ArrayList<>();
        for (Object d : (List<?>) e.get("disclosures")) {
          byte[] db = bytes(d);
          GenericRecord disc = (GenericRecord) decode(schemas.get("disclosure"), db);
          fields.add(disc.get("field").toString());
          digestsOk &= listed.contains(hex(sha256(db)));
        }
        if (es.getField("sealed") != null) {  // v2: sealed disclosures and key wraps
          for (Object d : (List<?>) e.get("sealed")) {
            byte[] db = bytes(d);
            GenericRecord sd = (GenericRecord) decode(schemas.get("sealed_disclosure"), db);
            fields.add(sd.get("field").toString());
            digestsOk &= listed.contains(hex(domainDigest("trm.sealed.v2", db)));
          }
          for (Object w : (List<?>) e.get("key_wraps")) {
            byte[] wb = bytes(w);
            decode(schemas.get("key_wrap"), wb);
            digestsOk &= listed.contains(hex(domainDigest("trm.key-wrap.v2", wb)));
          }
        }
        Collections.sort(fields);
        result = "decoded event_id=" + h.get("event_id") + " signature=" + sigOk + " digests=" + digestsOk + " fields=" + String.join(",", fields);
      } catch (Exception ex) {
        result = "refused " + ex.getClass().getSimpleName();
      }
      System.out.println("vector " + prefix + f.getName() + " " + result);
      JsonNode inter = v.get("intermediate");
      if (prefix.isEmpty() && inter != null && inter.has("payload_record")) {
        Object rec = decode(schemas.get("referral"), unhex(inter.get("payload_record").asText()));
        System.out.println("payload " + prefix + f.getName() + " " + ((GenericRecord) rec).get("case_number") + " " + ((GenericRecord) rec).get("names"));
      }
    }
  }
}
"""  # noqa: E501 (Java source, kept readable as Java)


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, f"{name} is needed for the Java interop test"
    return path


@pytest.fixture(scope="module")
def java_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    cache = Path(
        os.environ.get("TRM_AVRO_JAVA_CACHE", Path.home() / ".cache" / "trm" / "avro-java-1.12.0")
    )
    work = tmp_path_factory.mktemp("java")
    if not any(cache.glob("avro-*.jar")):
        (work / "pom.xml").write_text(POM, encoding="utf-8")
        subprocess.run(
            [_tool("mvn"), "-q", "-B", "-f", str(work / "pom.xml"),
             "dependency:copy-dependencies", f"-DoutputDirectory={cache}"],
            check=True, timeout=600,
        )  # fmt: skip
    src = work / "WireInterop.java"
    src.write_text(JAVA, encoding="utf-8")
    classpath = f"{cache}/*"
    subprocess.run(
        [_tool("javac"), "-cp", classpath, "-d", str(work), str(src)], check=True, timeout=300
    )
    done = subprocess.run(
        [_tool("java"), "-cp", f"{classpath}:{work}", "WireInterop",
         str(schemas.SCHEMA_DIR), str(VECTORS), str(SEALED)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return done.stdout


def test_java_fingerprints_equal_ours(java_output: str) -> None:
    seen = set()
    for line in java_output.splitlines():
        if line.startswith("schema "):
            _, name, crc, sha = line.split()
            assert bytes.fromhex(crc) == schemas.crc64(name), name
            assert bytes.fromhex(sha) == schemas.sha256(name), name
            seen.add(name)
    assert seen == {*schemas.names(), "envelope@1"}


def test_java_reads_and_verifies_every_good_vector(java_output: str) -> None:
    results = {
        line.split()[1]: line.split(" ", 2)[2]
        for line in java_output.splitlines()
        if line.startswith("vector ")
    }
    good = sorted(p for p in VECTORS.glob("good-*.json"))
    assert good
    for path in good:
        expected = json.loads(path.read_text(encoding="utf-8"))["expected"]
        fields = ",".join(sorted(expected["disclosed"]))
        assert results[path.name].endswith(f"signature=true digests=true fields={fields}"), (
            path.name
        )
    sealed_good = sorted(SEALED.glob("good-*.json"))
    assert sealed_good
    for path in sealed_good:  # v2: Java decodes and checks every part's domain digest
        expected = json.loads(path.read_text(encoding="utf-8"))["expected"]
        labels = ",".join(sorted({*expected["disclosed"], *expected.get("sealed_fields", [])}))
        got = results["sealed/" + path.name]
        assert got.endswith(f"signature=true digests=true fields={labels}"), (path.name, got)
    assert "digests=false" in results["sealed/bad-01-tampered-ciphertext.json"]
    assert "signature=false" in results["bad-03-bitflip-signature.json"]
    assert "digests=false" in results["bad-04-bitflip-disclosure.json"]
    assert results["bad-06-truncated.json"].startswith("refused")
    assert results["bad-08-bad-magic.json"].startswith("refused")


def test_java_decodes_the_payload_record(java_output: str) -> None:
    line = next(x for x in java_output.splitlines() if x.startswith("payload good-01"))
    assert "TH-DSDW-2026-0042" in line
    assert "km-Khmr" in line
