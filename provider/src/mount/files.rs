//! From an object's plaintext to its files: the whole object (the cached buffer itself, or its
//! `objectEncoding` decoding) and its jmesPath fields, each counted against the Mount's limits
//! and charged to its memory budget.

use std::sync::Arc;

use crate::budget::{Charge, MountBudget};
use crate::cache::Entry;
use crate::encoding::ObjectEncoding;
use crate::error::MountError;
use crate::jmes;
use crate::objects::ObjectPlan;
use crate::secret_bytes::{SecretBytes, SharedSecret};

/// The files of one object from its plaintext: the whole object (shared with the cache, or
/// its decoding) and its jmesPath fields. `produced_here` is the plaintext's charge when this
/// Mount fetched it.
pub(super) fn files(
    object: &ObjectPlan,
    entry: Entry,
    produced_here: Option<Charge>,
    budget: &MountBudget,
) -> Result<Produced, MountError> {
    {
        // The whole object is a file that shares the cached buffer, or its decoding.
        let mut charges: Vec<Charge> = produced_here.into_iter().collect();
        let whole = decoded(
            object.encoding,
            &object.label,
            &entry.plaintext,
            budget,
            &mut charges,
        )?;
        budget.file(&object.label, whole.as_ref().len())?;
        let mut files = Vec::with_capacity(1 + object.jmes_paths.len());
        files.push((object.alias.clone(), object.mode, whole));
        if !object.jmes_paths.is_empty() {
            let plaintext = entry.plaintext.as_slice();
            let _parse_charge = budget.hold(jmes::parse_cost(plaintext), &object.label)?;
            let fields = jmes::extract(&object.label, plaintext, &object.jmes_paths, |len| {
                budget.hold(len, &object.label)
            })?;
            for (j, (plan, (field, field_charge))) in
                object.jmes_paths.iter().zip(fields).enumerate()
            {
                let field = Arc::new(field);
                let owner = format!("{} jmesPath[{j}]", object.label);
                let field = decoded(plan.encoding, &owner, &field, budget, &mut charges)?;
                if plan.encoding == ObjectEncoding::Utf8 {
                    // The file is the extracted buffer itself; a decoded file replaces it.
                    charges.push(field_charge);
                }
                budget.file(&object.label, field.as_ref().len())?;
                files.push((plan.alias.clone(), plan.mode, field));
            }
        }
        Ok(Produced {
            version: entry.version,
            files,
            charges,
        })
    }
}

/// The file of `plaintext` under `encoding`: the buffer itself for `utf-8`, else a new decoded
/// buffer whose charge joins `charges`.
fn decoded(
    encoding: ObjectEncoding,
    label: &str,
    plaintext: &Arc<SecretBytes>,
    budget: &MountBudget,
    charges: &mut Vec<Charge>,
) -> Result<SharedSecret, MountError> {
    match encoding.apply(label, plaintext.as_slice(), budget)? {
        None => Ok(SharedSecret(plaintext.clone())),
        Some((bytes, charge)) => {
            charges.push(charge);
            Ok(SharedSecret(Arc::new(bytes)))
        }
    }
}

/// One object's contribution to the mount, and what it holds of the memory budget.
pub(super) struct Produced {
    /// The version reported to the driver.
    pub(super) version: String,
    /// Path, mode and contents of each file.
    pub(super) files: Vec<(String, u32, SharedSecret)>,
    /// What the files hold of the memory budget.
    pub(super) charges: Vec<Charge>,
}
