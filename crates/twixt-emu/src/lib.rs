//! The Unicorn harness: memory map, goroutine stack, fake g, boundary observation.

#[cfg(test)]
mod smoke {
    use unicorn_engine::unicorn_const::{Arch, Mode, Prot};
    use unicorn_engine::{RegisterARM64, Unicorn};

    /// Proves the C build of Unicorn works: runs three arm64 instructions.
    #[test]
    fn unicorn_runs_arm64_instructions() {
        // mov x0, #5 ; add x1, x0, #7 ; sub sp, sp, #16
        let code: [u8; 12] = [0xa0, 0x00, 0x80, 0xd2, 0x01, 0x1c, 0x00, 0x91, 0xff, 0x43, 0x00, 0xd1];
        let mut uc = Unicorn::new(Arch::ARM64, Mode::LITTLE_ENDIAN).expect("unicorn");
        uc.mem_map(0x10000, 0x1000, Prot::ALL).unwrap();
        uc.mem_write(0x10000, &code).unwrap();
        uc.reg_write(RegisterARM64::SP, 0x20000).unwrap();
        uc.emu_start(0x10000, 0x10000 + code.len() as u64, 0, 0).unwrap();
        assert_eq!(uc.reg_read(RegisterARM64::X1).unwrap(), 12);
        assert_eq!(uc.reg_read(RegisterARM64::SP).unwrap(), 0x20000 - 16);
    }
}
