//! A minimal DER writer: just what CRLs and OCSP responses need. Writing
//! DER directly keeps a 1M-entry CRL to one pass over the revoked serials.

/// Append a tag-length-value.
pub fn tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    len(out, content.len());
    out.extend_from_slice(content);
}

pub fn len(out: &mut Vec<u8>, n: usize) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

pub fn seq(content: &[u8]) -> Vec<u8> {
    wrap(0x30, content)
}

pub fn wrap(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(content.len() + 6);
    tlv(&mut v, tag, content);
    v
}

/// INTEGER from unsigned big-endian bytes (adds a 0x00 when the top bit is set).
pub fn uint(bytes: &[u8]) -> Vec<u8> {
    let trimmed = {
        let skip = bytes
            .iter()
            .take_while(|b| **b == 0)
            .count()
            .min(bytes.len().saturating_sub(1));
        &bytes[skip..]
    };
    let mut c = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.is_empty() || trimmed[0] & 0x80 != 0 {
        c.push(0);
    }
    c.extend_from_slice(trimmed);
    wrap(0x02, &c)
}

pub fn small_int(v: u64) -> Vec<u8> {
    uint(&v.to_be_bytes())
}

pub fn enumerated(v: u8) -> Vec<u8> {
    wrap(0x0a, &[v])
}

pub fn octets(b: &[u8]) -> Vec<u8> {
    wrap(0x04, b)
}

pub fn bit_string(b: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(b.len() + 1);
    c.push(0);
    c.extend_from_slice(b);
    wrap(0x03, &c)
}

pub const TRUE: [u8; 3] = [0x01, 0x01, 0xff];
pub const NULL: [u8; 2] = [0x05, 0x00];

/// An OID from its dotted form (all OIDs used here are constants).
pub fn oid(dotted: &str) -> Vec<u8> {
    let parts: Vec<u64> = dotted
        .split('.')
        .map(|p| p.parse().expect("constant OID"))
        .collect();
    let mut c = vec![(parts[0] * 40 + parts[1]) as u8];
    for &p in &parts[2..] {
        let mut stack = vec![(p & 0x7f) as u8];
        let mut v = p >> 7;
        while v > 0 {
            stack.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        c.extend(stack.iter().rev());
    }
    wrap(0x06, &c)
}

/// A civil date from unix seconds (proleptic Gregorian, UTC).
fn civil(t: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        (secs % 3600 / 60) as u32,
        (secs % 60) as u32,
    )
}

fn digits(out: &mut [u8], v: u32) {
    let mut v = v;
    for b in out.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Write a GeneralizedTime TLV into `out`; returns its length (17).
pub fn write_generalized_time(out: &mut [u8; 17], t: i64) -> usize {
    let (y, mo, d, h, mi, s) = civil(t);
    out[0] = 0x18;
    out[1] = 15;
    digits(&mut out[2..6], y.clamp(0, 9999) as u32);
    for (i, v) in [mo, d, h, mi, s].into_iter().enumerate() {
        digits(&mut out[6 + 2 * i..8 + 2 * i], v);
    }
    out[16] = b'Z';
    17
}

/// Write an RFC 5280 Time TLV (UTCTime through 2049, GeneralizedTime
/// after, §4.1.2.5); returns its length.
pub fn write_time(out: &mut [u8; 17], t: i64) -> usize {
    let (y, mo, d, h, mi, s) = civil(t);
    if !(1950..2050).contains(&y) {
        return write_generalized_time(out, t);
    }
    out[0] = 0x17;
    out[1] = 13;
    digits(&mut out[2..4], (y % 100) as u32);
    for (i, v) in [mo, d, h, mi, s].into_iter().enumerate() {
        digits(&mut out[4 + 2 * i..6 + 2 * i], v);
    }
    out[14] = b'Z';
    15
}

pub fn generalized_time(t: i64) -> Vec<u8> {
    let mut b = [0u8; 17];
    let n = write_generalized_time(&mut b, t);
    b[..n].to_vec()
}

pub fn time(t: i64) -> Vec<u8> {
    let mut b = [0u8; 17];
    let n = write_time(&mut b, t);
    b[..n].to_vec()
}

/// An Extension: SEQUENCE { extnID, critical DEFAULT FALSE, extnValue OCTET STRING }.
pub fn extension(oid_str: &str, critical: bool, value: &[u8]) -> Vec<u8> {
    let mut c = oid(oid_str);
    if critical {
        c.extend_from_slice(&TRUE);
    }
    c.extend(octets(value));
    seq(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(uint(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(uint(&[0, 0, 5]), [0x02, 0x01, 0x05]);
        assert_eq!(uint(&[]), [0x02, 0x01, 0x00]);
        assert_eq!(oid("2.5.29.20"), [0x06, 0x03, 0x55, 0x1d, 0x14]);
        assert_eq!(
            oid("1.2.840.10045.4.3.2"),
            [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]
        );
        let mut v = Vec::new();
        len(&mut v, 300);
        assert_eq!(v, [0x82, 0x01, 0x2c]);
        assert_eq!(time(0), wrap(0x17, b"700101000000Z"));
        assert_eq!(time(2_524_608_000), wrap(0x18, b"20500101000000Z"));
        assert_eq!(
            generalized_time(951_782_400),
            wrap(0x18, b"20000229000000Z")
        );
    }
}

/// A strict DER reader for the few structures Signet parses by hand (OCSP
/// requests, SubjectPublicKeyInfo). Rejects indefinite lengths and overruns.
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    /// The whole encoding, tag and length included.
    pub raw: &'a [u8],
}

#[derive(Debug, PartialEq, Eq)]
pub struct DerError(pub &'static str);

/// Read one TLV from the front of `input`, advancing it.
pub fn read<'a>(input: &mut &'a [u8]) -> Result<Tlv<'a>, DerError> {
    let all = *input;
    let (&tag, rest) = all.split_first().ok_or(DerError("truncated: no tag"))?;
    if tag & 0x1f == 0x1f {
        return Err(DerError("multi-byte tags are not supported"));
    }
    let (&first, mut rest) = rest.split_first().ok_or(DerError("truncated: no length"))?;
    let n = if first < 0x80 {
        first as usize
    } else {
        let k = (first & 0x7f) as usize;
        if k == 0 || k > 4 || rest.len() < k {
            return Err(DerError("bad length"));
        }
        let n = rest[..k].iter().fold(0usize, |a, b| (a << 8) | *b as usize);
        rest = &rest[k..];
        n
    };
    if rest.len() < n {
        return Err(DerError("truncated: content overruns the input"));
    }
    let header = all.len() - rest.len();
    let t = Tlv {
        tag,
        content: &rest[..n],
        raw: &all[..header + n],
    };
    *input = &rest[n..];
    Ok(t)
}

/// Read a TLV that must have `tag`.
pub fn expect<'a>(input: &mut &'a [u8], tag: u8, what: &'static str) -> Result<Tlv<'a>, DerError> {
    let t = read(input)?;
    if t.tag != tag {
        return Err(DerError(what));
    }
    Ok(t)
}

#[cfg(test)]
mod reader_tests {
    use super::*;

    #[test]
    fn reads_and_rejects() {
        let enc = seq(&[uint(&[1]), octets(&[0u8; 200])].concat());
        let mut input = enc.as_slice();
        let s = expect(&mut input, 0x30, "seq").unwrap();
        assert!(input.is_empty());
        let mut inner = s.content;
        assert_eq!(read(&mut inner).unwrap().content, [1]);
        assert_eq!(read(&mut inner).unwrap().content.len(), 200);
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x80],
            &[0x30, 0x05, 0x00],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x1f, 0x01, 0x00],
        ] {
            let mut i = bad;
            assert!(read(&mut i).is_err(), "{bad:?}");
        }
    }
}
