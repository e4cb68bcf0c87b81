//! The instruction set of an ELF file, read once from its `e_machine` and carried as a
//! type: every command asks [`crate::Image::arch`] instead of looking at header bytes.
//! Names are Go's `GOARCH` spellings, the ones a Go user builds with.

use std::fmt;

use object::elf;

/// An ELF file's machine, named as Go's `GOARCH` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// `EM_AARCH64` (183): everything twixt does.
    Arm64,
    /// `EM_X86_64` (62): read and listed (`funcs`, `disasm`); not yet scanned.
    Amd64,
    /// `EM_RISCV` (243).
    Riscv64,
    /// `EM_386` (3).
    I386,
    /// `EM_ARM` (40).
    Arm,
    /// `EM_PPC64` (21).
    Ppc64,
    /// `EM_S390` (22).
    S390x,
    /// `EM_MIPS` (8).
    Mips,
    /// `EM_LOONGARCH` (258).
    Loong64,
    /// Any other `e_machine` value.
    Other(u16),
}

impl Arch {
    /// The architectures whose images twixt reads, in the order messages list them.
    pub const SUPPORTED: [Arch; 2] = [Arch::Arm64, Arch::Amd64];

    /// [`Arch::SUPPORTED`] as messages print it.
    pub const SUPPORTED_TEXT: &'static str = "arm64 (EM_AARCH64) or amd64 (EM_X86_64)";

    /// The architecture of an ELF `e_machine` value.
    pub fn from_machine(machine: u16) -> Arch {
        match machine {
            elf::EM_AARCH64 => Arch::Arm64,
            elf::EM_X86_64 => Arch::Amd64,
            elf::EM_RISCV => Arch::Riscv64,
            elf::EM_386 => Arch::I386,
            elf::EM_ARM => Arch::Arm,
            elf::EM_PPC64 => Arch::Ppc64,
            elf::EM_S390 => Arch::S390x,
            elf::EM_MIPS => Arch::Mips,
            elf::EM_LOONGARCH => Arch::Loong64,
            other => Arch::Other(other),
        }
    }

    /// Whether twixt reads images of this architecture at all.
    pub fn is_supported(self) -> bool {
        Arch::SUPPORTED.contains(&self)
    }

    /// Go's name for it (`arm64`, `amd64`, ...); `e_machine N` for an unnamed machine.
    pub fn name(self) -> String {
        match self {
            Arch::Arm64 => "arm64".into(),
            Arch::Amd64 => "amd64".into(),
            Arch::Riscv64 => "riscv64".into(),
            Arch::I386 => "386".into(),
            Arch::Arm => "arm".into(),
            Arch::Ppc64 => "ppc64".into(),
            Arch::S390x => "s390x".into(),
            Arch::Mips => "mips".into(),
            Arch::Loong64 => "loong64".into(),
            Arch::Other(m) => format!("e_machine {m}"),
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Arch;

    #[test]
    fn machines_map_to_go_names() {
        let cases: &[(u16, Arch, &str, bool)] = &[
            (183, Arch::Arm64, "arm64", true),
            (62, Arch::Amd64, "amd64", true),
            (243, Arch::Riscv64, "riscv64", false),
            (3, Arch::I386, "386", false),
            (40, Arch::Arm, "arm", false),
            (21, Arch::Ppc64, "ppc64", false),
            (22, Arch::S390x, "s390x", false),
            (8, Arch::Mips, "mips", false),
            (258, Arch::Loong64, "loong64", false),
            (9999, Arch::Other(9999), "e_machine 9999", false),
        ];
        for &(machine, arch, name, supported) in cases {
            assert_eq!(Arch::from_machine(machine), arch, "e_machine {machine}");
            assert_eq!(arch.to_string(), name);
            assert_eq!(arch.is_supported(), supported, "{name}");
        }
    }
}
