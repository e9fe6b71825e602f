//! When a certificate is due for renewal: `renew_before` is a fraction of
//! its lifetime left (`1/3`, `0.25`) or a duration before notAfter (`30d`,
//! `12h`, `10m`, `90s`).

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RenewBefore {
    Fraction(f64),
    Secs(i64),
}

impl RenewBefore {
    pub fn parse(s: &str) -> Result<RenewBefore, String> {
        let s = s.trim();
        let bad = || {
            format!("{s:?} is neither a fraction (1/3, 0.25) nor a duration (30d, 12h, 10m, 90s)")
        };
        if let Some((a, b)) = s.split_once('/') {
            let (a, b): (f64, f64) = (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            );
            return fraction(a / b).ok_or_else(bad);
        }
        if let Ok(f) = s.parse::<f64>() {
            return fraction(f).ok_or_else(bad);
        }
        let unit = s.chars().last().ok_or_else(bad)?;
        let n: i64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
        let per = match unit {
            'd' => 86400,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        if n <= 0 {
            return Err(bad());
        }
        Ok(RenewBefore::Secs(n * per))
    }

    /// The moment renewal is due for a certificate valid over [nb, na].
    pub fn due_at(self, not_before: i64, not_after: i64) -> i64 {
        match self {
            RenewBefore::Fraction(f) => not_after - ((not_after - not_before) as f64 * f) as i64,
            RenewBefore::Secs(s) => not_after - s,
        }
    }
}

fn fraction(f: f64) -> Option<RenewBefore> {
    (f > 0.0 && f < 1.0).then_some(RenewBefore::Fraction(f))
}

#[cfg(test)]
mod tests {
    use super::RenewBefore;

    #[test]
    fn fractions_and_durations() {
        assert_eq!(RenewBefore::parse("1/3").unwrap().due_at(0, 90), 60);
        assert_eq!(RenewBefore::parse("0.5").unwrap().due_at(0, 100), 50);
        assert_eq!(
            RenewBefore::parse("30d").unwrap().due_at(0, 90 * 86400),
            60 * 86400
        );
        assert_eq!(RenewBefore::parse("90s").unwrap().due_at(0, 100), 10);
        for bad in ["", "1/0", "2", "0", "-5m", "5w", "x/3"] {
            assert!(RenewBefore::parse(bad).is_err(), "{bad}");
        }
    }
}
