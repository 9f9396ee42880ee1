"""Digest authentication: RFC vectors, client/server round trips, replay, stale, bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.sip.digest import (
    ALGORITHMS,
    DigestClient,
    DigestError,
    DigestServer,
    build_challenge,
    build_credentials,
    choose_challenges,
    compute_response,
    parse_challenges,
    parse_credentials,
    parse_params,
)
from sipflow.sip.errors import LocalProtocolError, RemoteProtocolError

# RFC 7616 §3.9.1: the worked example (the responses below are the RFC's numbers).
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_SHA256 = "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
RFC7616_MD5 = "8ca523f5e9506fed4657c9700eebdbec"


def rfc7616_challenge(algorithm: str) -> str:
    return (
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        f'nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}"'
    )


def rfc7616_client(**kwargs: object) -> DigestClient:
    return DigestClient("Mufasa", "Circle of Life", cnonce=lambda: RFC7616_CNONCE, **kwargs)  # type: ignore[arg-type]


class TestRfcVectors:
    def test_rfc7616_sha256_compute(self) -> None:
        response = compute_response(
            algorithm="SHA-256",
            username="Mufasa",
            realm="http-auth@example.org",
            password="Circle of Life",
            method="GET",
            uri="/dir/index.html",
            nonce=RFC7616_NONCE,
            qop="auth",
            nc=1,
            cnonce=RFC7616_CNONCE,
        )
        assert response == RFC7616_SHA256

    def test_rfc7616_md5_compute(self) -> None:
        response = compute_response(
            algorithm="MD5",
            username="Mufasa",
            realm="http-auth@example.org",
            password="Circle of Life",
            method="GET",
            uri="/dir/index.html",
            nonce=RFC7616_NONCE,
            qop="auth",
            nc=1,
            cnonce=RFC7616_CNONCE,
        )
        assert response == RFC7616_MD5

    def test_rfc7616_client_prefers_sha256_of_two_challenges(self) -> None:
        # The RFC's 401 carries both challenges, SHA-256 first, in two header fields.
        answer = rfc7616_client().answer(
            401, [rfc7616_challenge("SHA-256"), rfc7616_challenge("MD5")], "GET", "/dir/index.html"
        )
        assert len(answer.authorizations) == 1
        auth = answer.authorizations[0]
        assert auth.name == "Authorization"
        assert auth.algorithm == "SHA-256"
        creds = parse_credentials(auth.value)
        assert creds.response == RFC7616_SHA256
        assert creds.get("nc") == "00000001"
        assert creds.qop == "auth"
        assert creds.opaque == RFC7616_OPAQUE
        assert creds.cnonce == RFC7616_CNONCE
        assert answer.stale is False

    def test_rfc7616_client_md5_only(self) -> None:
        answer = rfc7616_client(algorithms=["MD5"]).answer(
            401,
            rfc7616_challenge("SHA-256") + ", " + rfc7616_challenge("MD5"),
            "GET",
            "/dir/index.html",
        )
        creds = parse_credentials(answer.authorizations[0].value)
        assert creds.algorithm == "MD5"
        assert creds.response == RFC7616_MD5

    def test_rfc2617_md5_example(self) -> None:
        # RFC 2617 §3.5 (also RFC 3261 §22.4's shape): password "Circle Of Life".
        challenge = (
            'Digest realm="testrealm@host.com", qop="auth,auth-int", '
            'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
        )
        client = DigestClient("Mufasa", "Circle Of Life", cnonce=lambda: "0a4f113b")
        auth = client.answer(401, challenge, "GET", "/dir/index.html").authorizations[0]
        creds = parse_credentials(auth.value)
        assert creds.response == "6629fae49393a05397450978507c4ef1"
        assert creds.algorithm == "MD5"
        assert "algorithm" not in creds.params  # the challenge had none: none echoed

    def test_rfc2617_credentials_verify_with_server_math(self) -> None:
        creds = parse_credentials(
            'Digest username="Mufasa", realm="testrealm@host.com", '
            'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, '
            'nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
            'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
        )
        assert creds.username == "Mufasa"
        assert creds.nc == "00000001"
        assert (
            compute_response(
                algorithm=creds.algorithm,
                username="Mufasa",
                realm=creds.realm or "",
                password="Circle Of Life",
                method="GET",
                uri=creds.uri or "",
                nonce=creds.nonce or "",
                qop=creds.qop,
                nc=int(creds.nc or "0", 16),
                cnonce=creds.cnonce,
            )
            == creds.response
        )

    def test_rfc2069_no_qop(self) -> None:
        # No qop: response = H(HA1:nonce:HA2); no nc, no cnonce on the wire.
        client = DigestClient("Mufasa", "Circle Of Life", cnonce=lambda: "unused")
        auth = client.answer(
            401,
            'Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093"',
            "GET",
            "/dir/index.html",
        ).authorizations[0]
        creds = parse_credentials(auth.value)
        assert creds.qop is None and creds.nc is None and creds.cnonce is None
        import hashlib

        ha1 = hashlib.md5(b"Mufasa:testrealm@host.com:Circle Of Life").hexdigest()
        ha2 = hashlib.md5(b"GET:/dir/index.html").hexdigest()
        expected = hashlib.md5(
            f"{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:{ha2}".encode()
        ).hexdigest()
        assert creds.response == expected

    def test_rfc7616_sha512_256_userhash_with_erratum_4897(self) -> None:
        # RFC 7616 §3.9.2. The RFC's printed hashes came from a draft SHA-512/256
        # (a truncated SHA-512); erratum 4897 gives the FIPS 180-4 values below.
        if "SHA-512-256" not in ALGORITHMS:
            pytest.skip("this OpenSSL has no SHA-512/256")
        challenge = (
            'Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, '
            'nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", '
            'opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", charset=UTF-8, userhash=true'
        )
        client = DigestClient(
            "J\u00e4s\u00f8n Doe",
            "Secret, or not?",
            cnonce=lambda: "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
        )
        auth = client.answer(401, challenge, "GET", "/doe.json").authorizations[0]
        creds = parse_credentials(auth.value)
        assert creds.username == "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
        assert creds.response == "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"
        assert creds.userhash and creds.algorithm == "SHA-512-256"


class TestAlgorithmChoice:
    """RFC 8760: the strongest supported algorithm per realm; ties keep the server's order."""

    def test_strength_order(self) -> None:
        values = [
            'Digest realm="r", nonce="md5", algorithm=MD5, qop="auth"',
            'Digest realm="r", nonce="sha256", algorithm=SHA-256, qop="auth"',
            'Digest realm="r", nonce="sha512", algorithm=SHA-512-256, qop="auth"',
        ]
        (best,) = choose_challenges(parse_challenges(values))
        expected = "sha512" if "SHA-512-256" in ALGORITHMS else "sha256"
        assert best.nonce == expected
        (best,) = choose_challenges(parse_challenges(values), supported=("MD5", "SHA-256"))
        assert best.nonce == "sha256"

    def test_ties_keep_the_topmost(self) -> None:
        values = [
            'Digest realm="r", nonce="first", algorithm=SHA-256',
            'Digest realm="r", nonce="second", algorithm=sha-256',
            'Digest realm="r", nonce="sess", algorithm=SHA-256-sess',
        ]
        (best,) = choose_challenges(parse_challenges(values))
        assert best.nonce == "first"

    def test_missing_algorithm_means_md5(self) -> None:
        values = [
            'Digest realm="r", nonce="plain"',
            'Digest realm="r", nonce="strong", algorithm=SHA-256',
        ]
        (best,) = choose_challenges(parse_challenges(values))
        assert best.nonce == "strong"
        (best,) = choose_challenges(parse_challenges(values), supported=("MD5",))
        assert best.nonce == "plain"

    def test_unusable_challenges_are_skipped(self) -> None:
        values = [
            'Digest realm="r", nonce="a", algorithm=SHA-1',  # unknown algorithm
            'Digest realm="r", algorithm=SHA-256',  # no nonce
            'Digest nonce="c", algorithm=SHA-256',  # no realm
            'Digest realm="r", nonce="d", algorithm=SHA-256, qop="auth-conf"',  # no usable qop
            'Digest realm="r", nonce="ok", algorithm=MD5, qop="auth-conf,auth"',
        ]
        (best,) = choose_challenges(parse_challenges(values))
        assert best.nonce == "ok"

    def test_realms_are_answered_in_order(self) -> None:
        values = [
            'Digest realm="b", nonce="1", algorithm=MD5',
            'Digest realm="a", nonce="2", algorithm=MD5',
            'Digest realm="b", nonce="3", algorithm=SHA-256',
        ]
        chosen = choose_challenges(parse_challenges(values))
        assert [(c.realm, c.nonce) for c in chosen] == [("b", "3"), ("a", "2")]

    @pytest.mark.parametrize("algorithm", [a for a in ALGORITHMS if a.endswith("-sess")])
    def test_sess_variants_differ_from_plain_and_bind_the_cnonce(self, algorithm: str) -> None:
        common = dict(
            username="u",
            realm="r",
            password="p",
            method="INVITE",
            uri="sip:x",
            nonce="n",
            qop="auth",
            nc=1,
        )
        sess = compute_response(algorithm=algorithm, cnonce="c1", **common)  # type: ignore[arg-type]
        plain = compute_response(algorithm=algorithm[:-5], cnonce="c1", **common)  # type: ignore[arg-type]
        other = compute_response(algorithm=algorithm, cnonce="c2", **common)  # type: ignore[arg-type]
        assert len({sess, plain, other}) == 3


class TestParser:
    def test_quoted_escapes_and_tokens(self) -> None:
        (ch,) = parse_challenges(r'Digest realm="a \"quoted\" \\ realm", nonce=abc, stale=TRUE')
        assert ch.realm == 'a "quoted" \\ realm'
        assert ch.nonce == "abc"
        assert ch.stale is True
        assert ch.algorithm == "MD5"
        assert ch.qop_options == ()

    def test_build_then_parse_round_trip(self) -> None:
        value = build_challenge(
            'we "love" \\ sip',
            "n0",
            algorithm="SHA-256",
            qop=("auth", "auth-int"),
            opaque="op",
            stale=True,
            domain="sip:example.com",
        )
        (ch,) = parse_challenges(value)
        assert ch.realm == 'we "love" \\ sip'
        assert ch.qop_options == ("auth", "auth-int")
        assert ch.stale and ch.opaque == "op" and ch.get("domain") == "sip:example.com"

    def test_several_challenges_one_field_and_other_schemes(self) -> None:
        challenges = parse_challenges(
            'Basic realm="x", Digest realm="r", nonce="1", algorithm=MD5, '
            'Bearer abc==, Digest realm="r", nonce="2", algorithm=SHA-256'
        )
        assert [c.scheme for c in challenges] == ["Basic", "Digest", "Bearer", "Digest"]
        assert challenges[2].token68 == "abc=="
        (best,) = choose_challenges(challenges)
        assert best.nonce == "2"

    def test_case_insensitive_names(self) -> None:
        (ch,) = parse_challenges('digest REALM="r", Nonce="n", ALGORITHM=sha-256, QOP="AUTH"')
        assert ch.is_digest and ch.realm == "r" and ch.nonce == "n"
        assert ch.qop_options == ("auth",)
        (chosen,) = choose_challenges([ch])
        assert chosen is ch

    @pytest.mark.parametrize(
        "value, fragment",
        [
            ('Digest realm="unterminated', "unterminated quoted string"),
            ('Digest realm="r", realm="s"', "given twice"),
            ("Digest realm=", "missing value"),
            ('Digest realm="r" nonce="n"', "expected ','"),
            ("", "empty value"),
            ("=oops", "expected an authentication scheme"),
            ('Digest realm="a\r\nb"', "CR or LF"),
            ("Digest nonce", "expected '=' after 'nonce'"),
        ],
    )
    def test_malformed_challenges(self, value: str, fragment: str) -> None:
        with pytest.raises(DigestError, match=fragment) as info:
            parse_challenges(value)
        assert str(info.value).startswith("WWW-Authenticate header:")

    def test_bare_token_after_comma_starts_a_new_challenge(self) -> None:
        challenges = parse_challenges('Digest realm="r", Negotiate')
        assert [c.scheme for c in challenges] == ["Digest", "Negotiate"]
        assert choose_challenges(challenges) == []  # no nonce: unusable

    def test_error_is_a_remote_protocol_error_with_status_400(self) -> None:
        with pytest.raises(RemoteProtocolError) as info:
            parse_credentials('Digest username="x')
        assert info.value.status == 400

    @pytest.mark.parametrize(
        "value, fragment",
        [
            ('Digest realm="r", nonce=,', "missing value for parameter 'nonce'"),
            ('Digest realm="r", nonce=(x)', "bad value for parameter 'nonce'"),
            ('Digest realm="r", nonce="n" stale', "expected ','"),
            ('Digest realm="a\\\nb"', "CR or LF escaped"),
            ("Digest " + ", ".join(f"p{i}=1" for i in range(65)), "more than 64 parameters"),
        ],
    )
    def test_more_malformed_values(self, value: str, fragment: str) -> None:
        with pytest.raises(DigestError, match=fragment):
            parse_challenges(value)

    def test_values_must_be_text(self) -> None:
        with pytest.raises(DigestError, match="not text"):
            parse_challenges([b"Digest realm=x"])  # type: ignore[list-item]

    def test_one_credentials_per_value(self) -> None:
        with pytest.raises(DigestError, match="2 credentials"):
            parse_credentials('Digest username="a", Digest username="b"')

    def test_too_long(self) -> None:
        with pytest.raises(DigestError, match="longer than"):
            parse_challenges('Digest realm="' + "x" * 9000 + '"')

    def test_build_refuses_non_tokens(self) -> None:
        with pytest.raises(LocalProtocolError, match="not a token"):
            build_challenge("r", "n", algorithm="SHA 256")

    def test_compute_response_argument_errors(self) -> None:
        base = dict(username="u", realm="r", password="p", method="M", uri="u", nonce="n")
        with pytest.raises(ValueError, match="unsupported digest algorithm"):
            compute_response(algorithm="SHA-1", **base)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="needs a cnonce"):
            compute_response(algorithm="MD5-sess", **base)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="unsupported qop"):
            compute_response(algorithm="MD5", qop="auth-conf", nc=1, cnonce="c", **base)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="qop needs nc and cnonce"):
            compute_response(algorithm="MD5", qop="auth", **base)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="qop needs nc and cnonce"):
            build_credentials(username="u", realm="r", nonce="n", uri="u", response="0", qop="auth")

    def test_build_refuses_crlf(self) -> None:
        with pytest.raises(LocalProtocolError):
            build_credentials(username="a\r\nVia: x", realm="r", nonce="n", uri="u", response="0")

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=st.sampled_from('Digest realm="nonce,=\\ \t\r\nab-/;'), max_size=80))
    def test_fuzz_parser_grammar_alphabet(self, value: str) -> None:
        try:
            parse_challenges(value)
        except DigestError:
            pass
        try:
            parse_credentials(value)
        except DigestError:
            pass

    @settings(max_examples=200, deadline=None)
    @given(st.text(max_size=120))
    def test_fuzz_parser_any_text(self, value: str) -> None:
        try:
            parse_challenges(value)
        except DigestError:
            pass

    @settings(max_examples=200, deadline=None)
    @given(st.text(max_size=120))
    def test_fuzz_server_verify_never_raises(self, value: str) -> None:
        server = DigestServer("r", {"u": "p"}, secret=b"k")
        result = server.verify("INVITE", value, 0.0)
        assert result.ok is False and result.reason


SECRET = b"0123456789abcdef"
URI = "sip:bob@example.com"


def make_pair(algorithm: str, **server_kwargs: object) -> tuple[DigestServer, DigestClient]:
    server = DigestServer(
        "example.com",
        {"alice": "s3cret"},
        algorithms=(algorithm,),
        secret=SECRET,
        **server_kwargs,  # type: ignore[arg-type]
    )
    return server, DigestClient("alice", "s3cret")


class TestRoundTrip:
    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    def test_every_algorithm(self, algorithm: str) -> None:
        server, client = make_pair(algorithm)
        answer = client.answer(401, server.challenge(100.0), "INVITE", URI)
        (auth,) = answer.authorizations
        assert auth.algorithm == algorithm
        result = server.verify("INVITE", auth.value, 101.0, uri=URI)
        assert result.ok, result.reason
        assert result.username == "alice" and result.algorithm == algorithm

    def test_server_challenges_sha256_first_and_client_picks_it(self) -> None:
        server = DigestServer(
            "example.com", {"alice": "s3cret"}, algorithms=("MD5", "SHA-256"), secret=SECRET
        )
        values = server.challenge(0.0)
        algorithms = [parse_challenges(v)[0].algorithm for v in values]
        assert algorithms == ["SHA-256", "MD5"]
        assert all(parse_challenges(v)[0].qop_options == ("auth",) for v in values)
        auth = (
            DigestClient("alice", "s3cret").answer(401, values, "REGISTER", URI).authorizations[0]
        )
        assert auth.algorithm == "SHA-256"
        assert server.verify("REGISTER", auth.value, 1.0).ok

    def test_md5_only_client_against_dual_server(self) -> None:
        server = DigestServer("example.com", {"alice": "s3cret"}, secret=SECRET)
        client = DigestClient("alice", "s3cret", algorithms=("MD5",))
        auth = client.answer(401, server.challenge(0.0), "INVITE", URI).authorizations[0]
        assert auth.algorithm == "MD5"
        assert server.verify("INVITE", auth.value, 1.0).ok

    def test_nonce_count_increments_and_preemptive_reuse(self) -> None:
        server, client = make_pair("SHA-256")
        first = client.answer(401, server.challenge(0.0), "REGISTER", URI).authorizations[0]
        assert parse_credentials(first.value).nc == "00000001"
        assert server.verify("REGISTER", first.value, 1.0).ok
        cnonces = {parse_credentials(first.value).cnonce}
        for expected in ("00000002", "00000003"):
            (auth,) = client.authorize("REGISTER", URI)
            creds = parse_credentials(auth.value)
            assert creds.nc == expected
            cnonces.add(creds.cnonce)
            assert server.verify("REGISTER", auth.value, 2.0).ok
        assert len(cnonces) == 3  # a fresh cnonce every time
        assert client.nonce_count("example.com") == 3

    def test_same_nonce_challenged_again_keeps_counting(self) -> None:
        server, client = make_pair("SHA-256")
        challenge = server.challenge(0.0)
        first = client.answer(401, challenge, "INVITE", URI).authorizations[0]
        assert server.verify("INVITE", first.value, 1.0).ok
        # The same challenge again (e.g. a second INVITE challenged with the same nonce).
        second = client.answer(401, challenge, "INVITE", URI).authorizations[0]
        assert parse_credentials(second.value).nc == "00000002"
        assert server.verify("INVITE", second.value, 1.0).ok

    def test_out_of_order_nc_is_accepted_only_if_higher(self) -> None:
        server, client = make_pair("SHA-256")
        a1 = client.answer(401, server.challenge(0.0), "MESSAGE", URI).authorizations[0]
        a2 = client.authorize("MESSAGE", URI)[0]
        a3 = client.authorize("MESSAGE", URI)[0]
        assert server.verify("MESSAGE", a1.value, 1.0).ok
        assert server.verify("MESSAGE", a3.value, 1.0).ok
        late = server.verify("MESSAGE", a2.value, 1.0)
        assert not late.ok and "replayed" in late.reason

    def test_replayed_nc(self) -> None:
        server, client = make_pair("MD5")
        auth = client.answer(401, server.challenge(0.0), "INVITE", URI).authorizations[0]
        assert server.verify("INVITE", auth.value, 1.0).ok
        replay = server.verify("INVITE", auth.value, 2.0)
        assert not replay.ok
        assert "replayed" in replay.reason
        assert replay.stale  # digest right: a fresh nonce lets an honest client go on

    def test_stale_nonce_and_client_retry_without_password(self) -> None:
        server, client = make_pair("SHA-256", nonce_lifetime=30.0)
        auth = client.answer(401, server.challenge(0.0), "INVITE", URI).authorizations[0]
        result = server.verify("INVITE", auth.value, 31.0)
        assert not result.ok and result.stale and "expired" in result.reason
        again = client.answer(401, server.challenge(31.0, stale=True), "INVITE", URI)
        assert again.stale is True
        creds = parse_credentials(again.authorizations[0].value)
        assert creds.nc == "00000001"  # a new nonce starts counting again
        assert server.verify("INVITE", again.authorizations[0].value, 32.0).ok

    def test_nonce_from_the_future_is_stale(self) -> None:
        server, client = make_pair("SHA-256")
        auth = client.answer(401, server.challenge(50.0), "INVITE", URI).authorizations[0]
        result = server.verify("INVITE", auth.value, 10.0)
        assert not result.ok and result.stale

    def test_wrong_password(self) -> None:
        server = DigestServer("example.com", {"alice": "s3cret"}, secret=SECRET)
        client = DigestClient("alice", "guess")
        auth = client.answer(401, server.challenge(0.0), "INVITE", URI).authorizations[0]
        result = server.verify("INVITE", auth.value, 1.0)
        assert not result.ok and not result.stale
        assert "wrong response" in result.reason

    def test_unknown_user_and_lookup_callable(self) -> None:
        server = DigestServer(
            "example.com", lambda user: "pw" if user == "bob" else None, secret=SECRET
        )
        auth = DigestClient("eve", "pw").answer(401, server.challenge(0.0), "INVITE", URI)
        result = server.verify("INVITE", auth.authorizations[0].value, 1.0)
        assert not result.ok and "unknown user" in result.reason
        auth = DigestClient("bob", "pw").answer(401, server.challenge(0.0), "INVITE", URI)
        assert server.verify("INVITE", auth.authorizations[0].value, 1.0).ok

    def test_wrong_realm(self) -> None:
        other = DigestServer("other.org", {"alice": "s3cret"}, secret=SECRET)
        server = DigestServer("example.com", {"alice": "s3cret"}, secret=SECRET)
        auth = DigestClient("alice", "s3cret").answer(401, other.challenge(0.0), "INVITE", URI)
        result = server.verify("INVITE", auth.authorizations[0].value, 1.0)
        assert not result.ok and "realm 'example.com'" in result.reason

    def test_forged_nonce_with_valid_digest_is_stale(self) -> None:
        # A nonce we never issued (e.g. before a restart, another secret):
        # the digest is right, so the client may retry with our nonce.
        before = DigestServer("example.com", {"alice": "s3cret"}, secret=b"old")
        server = DigestServer("example.com", {"alice": "s3cret"}, secret=b"new")
        auth = DigestClient("alice", "s3cret").answer(401, before.challenge(0.0), "INVITE", URI)
        result = server.verify("INVITE", auth.authorizations[0].value, 1.0)
        assert not result.ok and result.stale and "not issued" in result.reason

    def test_uri_and_method_are_bound(self) -> None:
        server, client = make_pair("SHA-256")
        auth = client.answer(401, server.challenge(0.0), "INVITE", URI).authorizations[0]
        wrong_uri = server.verify("INVITE", auth.value, 1.0, uri="sip:carol@example.com")
        assert not wrong_uri.ok and "Request-URI" in wrong_uri.reason
        wrong_method = server.verify("BYE", auth.value, 1.0)
        assert not wrong_method.ok and "wrong response" in wrong_method.reason

    def test_auth_int_binds_the_body(self) -> None:
        server = DigestServer("example.com", {"alice": "s3cret"}, qop=("auth-int",), secret=SECRET)
        client = DigestClient("alice", "s3cret")
        body = b"v=0\r\n"
        auth = client.answer(401, server.challenge(0.0), "MESSAGE", URI, body).authorizations[0]
        assert parse_credentials(auth.value).qop == "auth-int"
        assert server.verify("MESSAGE", auth.value, 1.0, body).ok
        tampered = client.authorize("MESSAGE", URI, body)[0]
        assert not server.verify("MESSAGE", tampered.value, 1.0, b"v=1\r\n").ok

    def test_client_prefers_auth_over_auth_int(self) -> None:
        server = DigestServer(
            "example.com", {"alice": "s3cret"}, qop=("auth-int", "auth"), secret=SECRET
        )
        auth = DigestClient("alice", "s3cret").answer(401, server.challenge(0.0), "INVITE", URI)
        assert parse_credentials(auth.authorizations[0].value).qop == "auth"

    def test_userhash(self) -> None:
        server = DigestServer("example.com", {"alice": "s3cret"}, secret=SECRET)
        nonce = server.make_nonce(0.0)
        challenge = build_challenge("example.com", nonce, algorithm="SHA-256", userhash=True)
        auth = (
            DigestClient("alice", "s3cret").answer(401, challenge, "INVITE", URI).authorizations[0]
        )
        creds = parse_credentials(auth.value)
        assert creds.userhash and creds.username != "alice" and len(creds.username or "") == 64
        result = server.verify("INVITE", auth.value, 1.0)
        assert result.ok and result.username == "alice"

    def test_proxy_variant(self) -> None:
        proxy = DigestServer("proxy.example.com", {"alice": "s3cret"}, proxy=True, secret=SECRET)
        assert proxy.status == 407
        assert proxy.challenge_header == "Proxy-Authenticate"
        assert proxy.credentials_header == "Proxy-Authorization"
        answer = DigestClient("alice", "s3cret").answer(407, proxy.challenge(0.0), "INVITE", URI)
        (auth,) = answer.authorizations
        assert auth.name == "Proxy-Authorization"
        assert proxy.verify("INVITE", auth.value, 1.0).ok

    def test_two_realms_two_credentials_server_picks_its_own(self) -> None:
        p1 = DigestServer("one", {"alice": "s3cret"}, proxy=True, secret=SECRET)
        p2 = DigestServer("two", {"alice": "s3cret"}, proxy=True, secret=SECRET)
        answer = DigestClient("alice", "s3cret").answer(
            407, p1.challenge(0.0) + p2.challenge(0.0), "INVITE", URI
        )
        assert [a.realm for a in answer.authorizations] == ["one", "two"]
        values = [a.value for a in answer.authorizations]
        assert p1.verify("INVITE", values, 1.0).ok
        assert p2.verify("INVITE", values, 1.0).ok

    def test_sess_without_qop_sends_its_cnonce(self) -> None:
        server = DigestServer(
            "example.com",
            {"alice": "s3cret"},
            algorithms=("MD5-sess",),
            secret=SECRET,
            allow_no_qop=True,
        )
        legacy = build_challenge(
            "example.com", server.make_nonce(0.0), algorithm="MD5-sess", qop=()
        )
        client = DigestClient("alice", "s3cret", cnonce=lambda: "abc")
        auth = client.answer(401, legacy, "INVITE", URI).authorizations[0]
        creds = parse_credentials(auth.value)
        assert creds.cnonce == "abc" and creds.qop is None and creds.nc is None
        assert server.verify("INVITE", auth.value, 1.0).ok
        stripped = auth.value.replace(', cnonce="abc"', "")
        result = server.verify("INVITE", stripped, 1.0)
        assert not result.ok and "needs a cnonce" in result.reason

    def test_valid_digest_over_a_malformed_nonce_is_stale(self) -> None:
        server = DigestServer("example.com", {"alice": "s3cret"}, secret=SECRET)
        for nonce in ("short", "!" * 43, "A" * 43):
            challenge = build_challenge("example.com", nonce, algorithm="SHA-256")
            auth = DigestClient("alice", "s3cret").answer(401, challenge, "INVITE", URI)
            result = server.verify("INVITE", auth.authorizations[0].value, 1.0)
            assert not result.ok and result.stale and "not issued" in result.reason

    def test_userhash_needs_a_user_table(self) -> None:
        server = DigestServer("example.com", lambda user: "s3cret", secret=SECRET)
        challenge = build_challenge(
            "example.com", server.make_nonce(0.0), algorithm="SHA-256", userhash=True
        )
        auth = (
            DigestClient("alice", "s3cret").answer(401, challenge, "INVITE", URI).authorizations[0]
        )
        assert not server.verify("INVITE", auth.value, 1.0).ok
        table = DigestServer("example.com", {"bob": "s3cret"}, secret=SECRET)
        result = table.verify("INVITE", auth.value, 1.0)
        assert not result.ok and "unknown user" in result.reason

    def test_no_qop_refused_unless_allowed(self) -> None:
        server = DigestServer("example.com", {"alice": "s3cret"}, secret=SECRET)
        nonce = server.make_nonce(0.0)
        legacy = build_challenge("example.com", nonce, algorithm=None, qop=())
        auth = DigestClient("alice", "s3cret").answer(401, legacy, "INVITE", URI).authorizations[0]
        refused = server.verify("INVITE", auth.value, 1.0)
        assert not refused.ok and "qop missing" in refused.reason
        lenient = DigestServer("example.com", {"alice": "s3cret"}, secret=SECRET, allow_no_qop=True)
        assert lenient.verify("INVITE", auth.value, 1.0).ok


class TestAuthenticationInfo:
    """RFC 7616 §3.5 / RFC 3261 §22.4: rspauth (mutual authentication) and nextnonce."""

    def test_rspauth_and_nextnonce(self) -> None:
        server, client = make_pair("SHA-256")
        auth = client.answer(401, server.challenge(0.0), "INVITE", URI).authorizations[0]
        assert server.verify("INVITE", auth.value, 1.0).ok
        info = server.authentication_info(auth.value, 1.0)
        params = parse_params(info)
        assert set(params) == {"nextnonce", "qop", "rspauth", "cnonce", "nc"}
        assert (
            params["nc"] == "00000001" and params["cnonce"] == parse_credentials(auth.value).cnonce
        )
        assert client.check_authentication_info(info)
        # The next request uses the next nonce, counting from 1, and needs no challenge.
        (following,) = client.authorize("INVITE", URI)
        creds = parse_credentials(following.value)
        assert creds.nonce == params["nextnonce"] and creds.nc == "00000001"
        assert server.verify("INVITE", following.value, 2.0).ok

    def test_forged_rspauth_is_refused_and_its_nextnonce_ignored(self) -> None:
        server, client = make_pair("MD5")
        auth = client.answer(401, server.challenge(0.0), "INVITE", URI).authorizations[0]
        impostor = DigestServer(
            "example.com", {"alice": "guess"}, algorithms=("MD5",), secret=SECRET
        )
        forged = impostor.authentication_info(auth.value, 1.0)
        assert not client.check_authentication_info(forged)
        assert (
            parse_credentials(client.authorize("INVITE", URI)[0].value).nonce
            == parse_credentials(auth.value).nonce
        )

    def test_auth_int_binds_the_response_body(self) -> None:
        server = DigestServer("example.com", {"alice": "s3cret"}, qop=("auth-int",), secret=SECRET)
        client = DigestClient("alice", "s3cret")
        auth = client.answer(401, server.challenge(0.0), "MESSAGE", URI, b"hi").authorizations[0]
        info = server.authentication_info(auth.value, 1.0, b"reply", nextnonce=False)
        assert "nextnonce" not in parse_params(info)
        assert client.check_authentication_info(info, body=b"reply")
        assert not client.check_authentication_info(info, body=b"tampered")

    def test_without_qop_only_nextnonce(self) -> None:
        server = DigestServer("example.com", {"alice": "s3cret"}, secret=SECRET, allow_no_qop=True)
        legacy = build_challenge("example.com", server.make_nonce(0.0), algorithm=None, qop=())
        client = DigestClient("alice", "s3cret")
        auth = client.answer(401, legacy, "INVITE", URI).authorizations[0]
        info = server.authentication_info(auth.value, 1.0)
        assert list(parse_params(info)) == ["nextnonce"]
        assert client.check_authentication_info(info)
        # An rspauth without our having sent a qop cannot be checked: refused.
        assert not client.check_authentication_info('rspauth="00"')

    def test_misuse(self) -> None:
        server, client = make_pair("SHA-256")
        with pytest.raises(LocalProtocolError, match="verified credentials"):
            server.authentication_info('Digest username="x", realm="elsewhere"', 0.0)
        with pytest.raises(LocalProtocolError, match="0 realms"):
            client.check_authentication_info('nextnonce="n"')
        with pytest.raises(LocalProtocolError, match="no request was authorized"):
            client.check_authentication_info('nextnonce="n"', realm="nowhere")

    def test_malformed_value_names_its_column(self) -> None:
        with pytest.raises(
            DigestError,
            match=r"Authentication-Info header: unterminated quoted string at column 11\.",
        ):
            parse_params('nextnonce="abc')
        with pytest.raises(DigestError, match="name=value parameters only"):
            parse_params('qop=auth, Digest realm="x"')
        assert parse_params("  ") == {}


class TestServerBadInput:
    @pytest.mark.parametrize(
        "value, fragment",
        [
            (None, "no credentials"),
            ([], "no credentials"),
            ('Digest username="alice"', "realm"),
            ('Digest username="alice", realm="example.com"', "missing parameter 'nonce'"),
            (
                'Digest username="alice", realm="example.com", nonce="n", uri="u", response="r", '
                "algorithm=SHA-1",
                "not offered",
            ),
            (
                'Digest username="alice", realm="example.com", nonce="n", uri="u", response="r", '
                "qop=auth",
                "without nc",
            ),
            (
                'Digest username="alice", realm="example.com", nonce="n", uri="u", response="r", '
                'qop=auth, nc=1, cnonce="c"',
                "8 hex digits",
            ),
            (
                'Digest username="alice", realm="example.com", nonce="n", uri="u", response="r", '
                'qop=auth, nc=00000000, cnonce="c"',
                "zero",
            ),
            (
                'Digest username="alice", realm="example.com", nonce="n", uri="u", response="r", '
                'qop=auth-int, nc=00000001, cnonce="c"',
                "not offered",
            ),
            ('Digest username="alice", realm="example.com", nonce="unterminated', "unterminated"),
            ("Basic YWxhZGRpbjpvcGVuc2VzYW1l", "no Digest credentials"),
        ],
    )
    def test_rejected_with_reason(self, value: object, fragment: str) -> None:
        server = DigestServer("example.com", {"alice": "s3cret"}, secret=SECRET)
        result = server.verify("INVITE", value, 0.0)  # type: ignore[arg-type]
        assert not result.ok
        assert fragment in result.reason

    def test_client_rejects_unusable_challenges(self) -> None:
        client = DigestClient("alice", "s3cret")
        with pytest.raises(DigestError, match="no usable Digest challenge"):
            client.answer(401, 'Digest realm="r", nonce="n", algorithm=SHA-1', "INVITE", URI)
        with pytest.raises(DigestError, match="no usable Digest challenge"):
            client.answer(401, 'Digest realm="r", nonce="n", qop="auth-conf"', "INVITE", URI)
        with pytest.raises(DigestError, match="no usable Digest challenge"):
            client.answer(401, 'Basic realm="r"', "INVITE", URI)
        with pytest.raises(DigestError, match="Proxy-Authenticate header: unterminated"):
            client.answer(407, 'Digest realm="r', "INVITE", URI)
        with pytest.raises(LocalProtocolError, match="401 or 407"):
            client.answer(403, 'Digest realm="r", nonce="n"', "INVITE", URI)

    def test_client_refuses_a_bad_user_name(self) -> None:
        with pytest.raises(ValueError, match="bad digest user name"):
            DigestClient("alice\r\nVia: x", "pw")
        with pytest.raises(ValueError, match="bad digest user name"):
            DigestClient("", "pw")

    def test_server_refuses_unknown_configuration(self) -> None:
        with pytest.raises(ValueError, match="unsupported digest algorithm"):
            DigestServer("r", {}, algorithms=("SHA-1",))
        with pytest.raises(ValueError, match="qop"):
            DigestServer("r", {}, qop=("auth-conf",))
        with pytest.raises(ValueError, match="at least one"):
            DigestServer("r", {}, algorithms=())
        with pytest.raises(ValueError, match="CR or LF"):
            DigestServer("r\r\n", {})


class TestReplayTableBounded:
    def test_table_never_exceeds_its_cap_and_evicted_nonces_stay_dead(self) -> None:
        server = DigestServer(
            "example.com", {"alice": "s3cret"}, secret=SECRET, max_nonces=8, algorithms=("MD5",)
        )
        first_auth = None
        for i in range(20):
            client = DigestClient("alice", "s3cret")
            auth = client.answer(401, server.challenge(float(i)), "INVITE", URI).authorizations[0]
            assert server.verify("INVITE", auth.value, float(i)).ok
            assert server.remembered_nonces() <= 8
            if first_auth is None:
                first_auth = (client, auth)
        assert first_auth is not None
        client, auth = first_auth
        # The first nonce was evicted long ago; its replay must not pass, nor a
        # fresh count on it: it is stale and the client gets a new nonce.
        replay = server.verify("INVITE", auth.value, 20.0)
        assert not replay.ok and replay.stale
        later = client.authorize("INVITE", URI)[0]
        result = server.verify("INVITE", later.value, 20.0)
        assert not result.ok and result.stale

    def test_expired_entries_are_dropped(self) -> None:
        server = DigestServer(
            "example.com", {"alice": "s3cret"}, secret=SECRET, nonce_lifetime=10.0
        )
        for i in range(5):
            auth = (
                DigestClient("alice", "s3cret")
                .answer(401, server.challenge(float(i)), "INVITE", URI)
                .authorizations[0]
            )
            assert server.verify("INVITE", auth.value, float(i)).ok
        assert server.remembered_nonces() == 5
        auth = DigestClient("alice", "s3cret").answer(401, server.challenge(100.0), "INVITE", URI)
        assert server.verify("INVITE", auth.authorizations[0].value, 100.0).ok
        assert server.remembered_nonces() == 1


awkward_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r\n"),
    min_size=1,
    max_size=16,
)


@settings(max_examples=150, deadline=None)
@given(
    username=awkward_text,
    password=st.text(max_size=16),
    realm=awkward_text,
    method=st.sampled_from(["INVITE", "REGISTER", "MESSAGE", "SUBSCRIBE"]),
    uri=st.text(alphabet='sip:@.abc;=<>"\\ ', min_size=1, max_size=20),
    algorithm=st.sampled_from(ALGORITHMS),
    proxy=st.booleans(),
)
def test_round_trip_property(
    username: str, password: str, realm: str, method: str, uri: str, algorithm: str, proxy: bool
) -> None:
    """Quotes, backslashes, commas and non-ASCII in any field survive the headers."""
    server = DigestServer(
        realm, {username: password}, algorithms=(algorithm,), secret=SECRET, proxy=proxy
    )
    client = DigestClient(username, password)
    answer = client.answer(server.status, server.challenge(0.0), method, uri)
    (auth,) = answer.authorizations
    assert auth.name == server.credentials_header
    creds = parse_credentials(auth.value)
    assert (creds.username, creds.realm, creds.uri) == (username, realm, uri)
    result = server.verify(method, auth.value, 1.0, uri=uri)
    assert result.ok, result.reason
    assert client.check_authentication_info(
        server.authentication_info(auth.value, 1.0), realm=realm
    )
    assert not server.verify(method, auth.value, 1.0, uri=uri).ok  # replay
    wrong = DigestClient(username, password + "x").answer(
        server.status, server.challenge(0.0), method, uri
    )
    assert not server.verify(method, wrong.authorizations[0].value, 1.0).ok


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_credentials_never_raise(data: st.DataObject) -> None:
    """Random edits of a valid Authorization value: verify answers, never raises."""
    server = DigestServer("example.com", {"alice": "s3cret"}, secret=SECRET)
    value = DigestClient("alice", "s3cret").answer(401, server.challenge(0.0), "INVITE", URI)
    text = value.authorizations[0].value
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 3))
        insert = data.draw(st.text(alphabet='",=\\ \t\r\nabcAZ09-', max_size=3))
        text = text[:position] + insert + text[position + cut :]
    result = server.verify("INVITE", text, 1.0)
    assert isinstance(result.ok, bool)
    if not result.ok:
        assert result.reason
