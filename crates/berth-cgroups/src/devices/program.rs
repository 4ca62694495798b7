//! The cgroup v2 device filter: a `BPF_PROG_TYPE_CGROUP_DEVICE` program
//! generated from an [`Emulator`]'s clean state. The kernel calls it with a
//! `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! (`access_type` = access bits << 16 | device type) and takes 1 as "allow".
//!
//! Layout: load the context into r2..r5, then one block per exception
//! ("if it matches, return the exception's verdict", else jump to the next
//! block), then return the default.

use berth_sys::bpf::Insn;

use super::{Access, DevType, Emulator};

// Opcodes (class | op | source).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const JMP_JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP_JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// `BPF_DEVCG_DEV_BLOCK` / `BPF_DEVCG_DEV_CHAR`.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// The license the program is loaded under (no GPL-only helpers are used).
pub const LICENSE: &std::ffi::CStr = c"Apache";

/// Generates the filter for `e`.
pub fn generate(e: &Emulator) -> Vec<Insn> {
    let mut p = vec![
        Insn::new(LDX_MEM_W, 2, 1, 0, 0),        // r2 = ctx->access_type
        Insn::new(ALU32_AND_K, 2, 0, 0, 0xffff), // w2 &= 0xffff: device type
        Insn::new(LDX_MEM_W, 3, 1, 0, 0),        // r3 = ctx->access_type
        Insn::new(ALU32_RSH_K, 3, 0, 0, 16),     // w3 >>= 16: access bits
        Insn::new(LDX_MEM_W, 4, 1, 4, 0),        // r4 = ctx->major
        Insn::new(LDX_MEM_W, 5, 1, 8, 0),        // r5 = ctx->minor
    ];
    let verdict = i32::from(!e.default_allow);
    for (dev, access) in &e.exceptions {
        let mut block: Vec<(Insn, bool)> = Vec::new(); // (insn, jumps to next block)
        let typ = match dev.typ {
            DevType::Block => DEV_BLOCK,
            DevType::Char => DEV_CHAR,
            // An `a` rule never survives as an exception; skip it defensively.
            DevType::All => continue,
        };
        block.push((Insn::new(JMP_JNE_K, 2, 0, 0, typ), true));
        if *access != Access::ALL {
            block.push((Insn::new(ALU32_MOV_X, 1, 3, 0, 0), false)); // w1 = w3
            block.push((Insn::new(ALU32_AND_K, 1, 0, 0, i32::from(access.0)), false));
            if e.default_allow {
                // Deny exception: any overlap with the request.
                block.push((Insn::new(JMP_JEQ_K, 1, 0, 0, 0), true));
            } else {
                // Allow exception: the whole request must be covered.
                block.push((Insn::new(JMP_JNE_X, 1, 3, 0, 0), true));
            }
        }
        if let Some(major) = dev.major {
            // Device numbers are at most 32 bits; compare as the kernel
            // zero-extended them (an imm is sign-extended, so values past
            // i32::MAX could never match a real device anyway).
            block.push((Insn::new(JMP_JNE_K, 4, 0, 0, major as i32), true));
        }
        if let Some(minor) = dev.minor {
            block.push((Insn::new(JMP_JNE_K, 5, 0, 0, minor as i32), true));
        }
        block.push((Insn::new(ALU32_MOV_K, 0, 0, 0, verdict), false));
        block.push((Insn::new(JMP_EXIT, 0, 0, 0, 0), false));
        let len = block.len();
        for (i, (mut insn, jumps)) in block.into_iter().enumerate() {
            if jumps {
                // Relative to the next instruction: skip the rest of the block.
                insn.off = (len - i - 1) as i16;
            }
            p.push(insn);
        }
    }
    p.push(Insn::new(ALU32_MOV_K, 0, 0, 0, i32::from(e.default_allow)));
    p.push(Insn::new(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// Runs a program made by [`generate`] on one access, as the kernel would:
/// an interpreter for exactly the instructions generated here. Returns
/// `None` on anything else (or on a jump out of bounds).
pub fn run(prog: &[Insn], typ: DevType, major: u32, minor: u32, access: Access) -> Option<bool> {
    let t: u32 = match typ {
        DevType::Block => DEV_BLOCK as u32,
        DevType::Char => DEV_CHAR as u32,
        DevType::All => return None,
    };
    let ctx = [(u32::from(access.0) << 16) | t, major, minor];
    let mut r = [0u64; 16];
    let mut pc = 0usize;
    for _ in 0..4096 {
        let i = prog.get(pc)?;
        let (d, s) = (usize::from(i.dst()), usize::from(i.src()));
        let imm64 = i64::from(i.imm) as u64;
        let mut next = pc + 1;
        let jump = |cond: bool| {
            if cond {
                pc as i64 + 1 + i64::from(i.off)
            } else {
                pc as i64 + 1
            }
        };
        match i.code {
            LDX_MEM_W => {
                if s != 1 || i.off % 4 != 0 {
                    return None;
                }
                r[d] = u64::from(*ctx.get(usize::try_from(i.off / 4).ok()?)?);
            }
            ALU32_AND_K => r[d] = u64::from((r[d] as u32) & (i.imm as u32)),
            ALU32_RSH_K => r[d] = u64::from((r[d] as u32) >> (i.imm as u32)),
            ALU32_MOV_K => r[d] = u64::from(i.imm as u32),
            ALU32_MOV_X => r[d] = u64::from(r[s] as u32),
            JMP_JEQ_K => next = usize::try_from(jump(r[d] == imm64)).ok()?,
            JMP_JNE_K => next = usize::try_from(jump(r[d] != imm64)).ok()?,
            JMP_JNE_X => next = usize::try_from(jump(r[d] != r[s])).ok()?,
            JMP_EXIT => return Some(r[0] == 1),
            _ => return None,
        }
        pc = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::tests::{docker_like, oci};

    fn all_accesses() -> impl Iterator<Item = Access> {
        (1..8).map(Access)
    }

    /// The program decides exactly what the emulator decides, for every
    /// access to a spread of devices.
    fn agrees(e: &Emulator) {
        let p = generate(e);
        for typ in [DevType::Char, DevType::Block] {
            for (ma, mi) in [
                (1, 3),
                (1, 5),
                (1, 7),
                (5, 2),
                (136, 0),
                (136, 9),
                (8, 0),
                (0, 0),
                (4095, 1_048_575),
            ] {
                for a in all_accesses() {
                    assert_eq!(
                        run(&p, typ, ma, mi, a),
                        Some(e.allows(typ, ma, mi, a)),
                        "{typ:?} {ma}:{mi} {a} in {e:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn whitelist_program_matches_the_emulator() {
        let e = Emulator::from_oci(&docker_like()).unwrap();
        agrees(&e);
        let p = generate(&e);
        assert!(run(&p, DevType::Char, 1, 3, Access::READ).unwrap());
        assert!(!run(&p, DevType::Char, 1, 5, Access::WRITE).unwrap());
        assert!(!run(&p, DevType::Block, 8, 0, Access::READ).unwrap());
    }

    #[test]
    fn blacklist_program_matches_the_emulator() {
        let e = Emulator::from_oci(&[
            oci(true, "a", None, None, "rwm"),
            oci(false, "c", Some(1), Some(3), "r"),
            oci(false, "b", Some(8), None, "w"),
            oci(false, "c", None, Some(7), "rwm"),
        ])
        .unwrap();
        agrees(&e);
        let p = generate(&e);
        assert!(!run(&p, DevType::Char, 1, 3, Access::READ).unwrap());
        assert!(run(&p, DevType::Char, 1, 3, Access::WRITE).unwrap());
        assert!(run(&p, DevType::Char, 1, 5, Access::READ).unwrap());
    }

    #[test]
    fn trivial_programs() {
        let deny_all = generate(&Emulator::default());
        assert_eq!(deny_all.len(), 8);
        assert_eq!(
            run(&deny_all, DevType::Char, 1, 3, Access::READ),
            Some(false)
        );
        let allow_all = Emulator::from_oci(&[oci(true, "a", None, None, "rwm")]).unwrap();
        let p = generate(&allow_all);
        assert_eq!(run(&p, DevType::Block, 8, 0, Access::ALL), Some(true));
        agrees(&Emulator::default());
        agrees(&allow_all);
    }

    #[test]
    fn shape_of_a_block() {
        // One exception with a partial access, major and minor: 8 instructions.
        let e = Emulator::from_oci(&[
            oci(false, "a", None, None, "rwm"),
            oci(true, "c", Some(1), Some(3), "rw"),
        ])
        .unwrap();
        let p = generate(&e);
        assert_eq!(p.len(), 6 + 8 + 2);
        let jumps: Vec<(u8, i16)> = p[6..14].iter().map(|i| (i.code, i.off)).collect();
        assert_eq!(
            jumps,
            [
                (JMP_JNE_K, 7),
                (ALU32_MOV_X, 0),
                (ALU32_AND_K, 0),
                (JMP_JNE_X, 4),
                (JMP_JNE_K, 3),
                (JMP_JNE_K, 2),
                (ALU32_MOV_K, 0),
                (JMP_EXIT, 0)
            ]
        );
        assert_eq!(p[12].imm, 1);
        assert_eq!(p[14].imm, 0);
    }
}
