//! The CSV export of approved expense claims, for the finance office.

use std::collections::HashMap;

use platform::error::{Error, Result};
use uuid::Uuid;

use super::convert::ts;
use crate::domain::ExpenseClaim;

pub const HEADER: [&str; 8] = [
    "person_id",
    "event_id",
    "event_title",
    "travel_amount",
    "subsistence_amount",
    "currency",
    "decided_at",
    "decided_by",
];

/// Digits after the decimal point of a currency (ISO 4217 minor unit).
fn minor_digits(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// Minor units as a decimal amount in major units: 1250 GBP → "12.50".
pub fn major_units(minor: i64, currency: &str) -> String {
    let digits = minor_digits(currency);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if digits == 0 {
        return format!("{sign}{abs}");
    }
    let scale = 10u64.pow(digits);
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = digits as usize
    )
}

/// The CSV text of `claims`, with each event's title.
pub fn claims_csv(claims: &[ExpenseClaim], titles: &HashMap<Uuid, String>) -> Result<String> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(HEADER).map_err(Error::internal)?;
    for c in claims {
        w.write_record([
            c.person_id.to_string(),
            c.event_id.to_string(),
            titles.get(&c.event_id).cloned().unwrap_or_default(),
            major_units(c.travel_amount, &c.currency),
            major_units(c.subsistence_amount, &c.currency),
            c.currency.clone(),
            c.decided_at.map(ts).unwrap_or_default(),
            c.decided_by.clone().unwrap_or_default(),
        ])
        .map_err(Error::internal)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?;
    String::from_utf8(bytes).map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_major_units_with_the_currencys_digits() {
        assert_eq!(major_units(1250, "GBP"), "12.50");
        assert_eq!(major_units(5, "EUR"), "0.05");
        assert_eq!(major_units(-1999, "USD"), "-19.99");
        assert_eq!(major_units(1500, "JPY"), "1500");
        assert_eq!(major_units(12345, "KWD"), "12.345");
    }

    #[test]
    fn titles_with_commas_and_quotes_are_quoted() {
        let claim = ExpenseClaim {
            id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            person_id: Uuid::now_v7(),
            travel_amount: 1250,
            subsistence_amount: 0,
            currency: "GBP".into(),
            description: String::new(),
            status: crate::domain::ClaimStatus::Approved,
            decided_by: Some("admin".into()),
            decided_at: None,
            decision_reason: None,
            submitted_at: chrono::Utc::now(),
        };
        let titles = HashMap::from([(claim.event_id, "Meeting, \"spring\"".to_string())]);
        let csv = claims_csv(&[claim], &titles).unwrap();
        let mut lines = csv.lines();
        assert_eq!(lines.next().unwrap(), HEADER.join(","));
        let row = lines.next().unwrap();
        assert!(
            row.contains(",\"Meeting, \"\"spring\"\"\",12.50,0.00,GBP,"),
            "{row}"
        );
    }
}
