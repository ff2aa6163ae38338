//! ONBUILD triggers: the instructions a base image (or base stage) asks to run at the start
//! of every stage built on it (BuildKit's `initOnBuildTriggers`).

use crate::dockerfile::instructions::{
    parse_instruction, Command, FrontendError, Instruction, LineRange,
};

/// Parses a base's ONBUILD triggers (as stored in its config's `OnBuild`) into the commands
/// to insert at the start of a stage whose FROM is at `from`. The commands carry the FROM's
/// lines, as BuildKit reports trigger errors there. Triggers that are not one instruction,
/// or are FROM, MAINTAINER or ONBUILD, are refused as BuildKit refuses them.
pub fn onbuild_commands(
    triggers: &[String],
    from: LineRange,
) -> Result<Vec<Command>, FrontendError> {
    parse_triggers(triggers, from).map_err(|e| FrontendError {
        locations: vec![from],
        ..e
    })
}

pub(crate) fn parse_triggers(
    triggers: &[String],
    from: LineRange,
) -> Result<Vec<Command>, FrontendError> {
    let mut out = Vec::new();
    for t in triggers {
        let ast = crate::dockerfile::parser::parse(t)?;
        if ast.children.len() != 1 {
            return Err(FrontendError::new(
                "onbuild trigger should be a single expression",
            ));
        }
        let mut node = ast.children[0].clone();
        node.start_line = from.start;
        node.end_line = from.end;
        let mut cmd = parse_instruction(&node)?;
        match &cmd.instruction {
            Instruction::From(_) => {
                return Err(FrontendError::new(
                    "*instructions.Stage is not a command type",
                ))
            }
            Instruction::Maintainer(_) => {
                return Err(FrontendError::new(
                    "MAINTAINER isn't allowed as an ONBUILD trigger",
                ))
            }
            Instruction::Onbuild(_) => {
                return Err(FrontendError::new(
                    "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                ))
            }
            _ => {}
        }
        cmd.start_line = from.start;
        cmd.end_line = from.end;
        out.push(cmd);
    }
    Ok(out)
}
