//! Bounds on every paged listing: a cursor is never followed twice (a server repeating or
//! alternating its cursors would be paged for ever), a page without items cannot ask for more,
//! and the number of pages is capped by what the server said it holds (or a hard limit).

use crate::ansible::Result;
use crate::fail;
use std::collections::HashSet;

/// The most pages any listing follows when the server did not say how many items it has: a
/// million accounts at the smallest page size the modules ask for.
pub const MAX_PAGES: usize = 100_000;

/// One listing's progress.
#[derive(Debug)]
pub struct Pages {
    what: String,
    seen: HashSet<String>,
    pages: usize,
    limit: usize,
}

impl Pages {
    /// `what`: the listing, for messages ("listing MAS's users").
    pub fn new(what: &str) -> Pages {
        Pages {
            what: what.to_string(),
            seen: HashSet::new(),
            pages: 0,
            limit: MAX_PAGES,
        }
    }

    /// The server said it holds `total` items, `per_page` a page: no more pages than that (and
    /// two to spare, for items added while listing).
    pub fn expect_total(&mut self, total: u64, per_page: u64) {
        let pages = total.div_ceil(per_page.max(1)).saturating_add(2);
        self.limit = self.limit.min(usize::try_from(pages).unwrap_or(MAX_PAGES));
    }

    /// Records a page of `items` items whose answer asks for the next page at `next` (None: the
    /// listing is complete). Returns whether to fetch the next page; fails where following it
    /// would never end.
    pub fn next(&mut self, items: usize, next: Option<&str>) -> Result<bool> {
        self.pages += 1;
        let Some(cursor) = next else {
            return Ok(false);
        };
        let what = &self.what;
        if items == 0 {
            return Err(fail!(
                "{what}: the server answered a page without items that asks for another page (cursor '{cursor}'): a listing that would never end; nothing was counted from it"
            ));
        }
        if !self.seen.insert(cursor.to_string()) {
            return Err(fail!(
                "{what}: the server sent the page cursor '{cursor}' a second time: a listing that would never end; nothing was counted from it"
            ));
        }
        if self.pages >= self.limit {
            return Err(fail!(
                "{what}: still more pages after {} pages, more than the server said it holds: a listing that would never end; nothing was counted from it",
                self.pages
            ));
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_alternating_and_endless_cursors_end() {
        let mut p = Pages::new("listing");
        assert!(p.next(2, Some("a")).unwrap());
        assert!(p.next(2, Some("b")).unwrap());
        assert!(p.next(2, Some("a")).unwrap_err().0.contains("second time"));

        let mut p = Pages::new("listing");
        p.expect_total(10, 5);
        let mut n = 0;
        let err = loop {
            match p.next(5, Some(&format!("c{n}"))) {
                Ok(true) => n += 1,
                Ok(false) => unreachable!(),
                Err(e) => break e,
            }
        };
        assert_eq!(n, 3, "2 pages and 2 to spare");
        assert!(err.0.contains("more than the server said"));

        let mut p = Pages::new("listing");
        assert!(p
            .next(0, Some("x"))
            .unwrap_err()
            .0
            .contains("without items"));
        assert!(!Pages::new("listing").next(0, None).unwrap());
    }
}
