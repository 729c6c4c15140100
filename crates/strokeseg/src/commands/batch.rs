//! The one batch loop of the commands that take several studies (`segment`, `inspect`,
//! `register`): a study the user can fix (unreadable, refused) is reported and the run goes on,
//! ending with exit code 2; with a single study, or on an internal failure, the error ends the
//! run at once.

use crate::Status;

/// Runs `each` on every item, in order; `each` returns the item's own status (a study can be
/// processed and still be bad input, e.g. a failed registration).
///
/// # Errors
/// The first error when there is one item, or an error that is not the user's
/// ([`crate::is_user_error`]).
pub fn each<T>(
    items: &[T],
    mut each: impl FnMut(&T) -> anyhow::Result<Status>,
) -> anyhow::Result<Status> {
    let mut status = Status::Ok;
    for item in items {
        match each(item) {
            Ok(Status::Ok) => {}
            Ok(Status::BadInput) => status = Status::BadInput,
            Err(e) if items.len() > 1 && crate::is_user_error(&e) => {
                eprintln!("error: {e}");
                status = Status::BadInput;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(status)
}
