//! A PostgreSQL database of the test's own, dropped at the end: the test
//! kit's [`testkit::TestDb`].

pub use testkit::TestDb;
pub use testkit::db::SERVER;
