"""Hit/no-hit matching: does another member know this person, without anyone disclosing who.

The Prüm model (an automated search that answers only "hit, owner, reference"
or "no hit", then a follow-up request decided by a person), with a threshold
oblivious PRF so that no single party can compute a match key and test a
dictionary against the index (docs/protocol.md, matching; docs/decisions.md).

The pure core, one module per piece of knowledge:

``keys``       identifiers to canonical match inputs: phone numbers to E.164,
               documents to issuing state + number (ICAO 9303 check digits),
               names + year of birth to a few blocking keys after romanisation.
``oprf``       RFC 9497 OPRF and VOPRF, ristretto255-SHA512, on libsodium (rbcl).
``threshold``  the key split t-of-n (Shamir with Feldman commitments), partial
               evaluations with DLEQ proofs, their combination.
``ceremony``   making, checking and handing out the shares; the dealer's key destroyed.
``exchange``   the signed match messages and the pure functions the hub's and the
               evaluators' agents call (register, evaluate, query, answer).

None of these import Faust or aiokafka; Kafka lives in ``hub.app`` and ``connectors``.
"""
