//! A deterministic stack limit, applied to every module before it is compiled (the approach of polkadot-sdk's
//! deterministic stack limit): a mutable global counts the *logical* stack in use, and every call to a function of
//! the module adds the callee's frame cost before the call (trapping past [`STACK_BUDGET`]) and takes it back
//! after. A frame costs [`FRAME_UNITS`] plus its locals (parameters included) plus its deepest operand stack, so
//! the trap depth depends only on the code, never on the CPU, the compiler or `max_wasm_stack` — which is set far
//! above what [`STACK_BUDGET`] units can use (see `ExecConfig::max_wasm_stack`).
//!
//! The counter is exported as [`DEPTH_EXPORT`]; the host seeds a callee's counter with its caller's, so the budget
//! covers a whole chain of `call`s. Stored code stays as uploaded; only the compiled form is instrumented.

use wasm_encoder::reencode::{Error as ReencodeError, Reencode, utils};
use wasm_encoder::{BlockType, ConstExpr, ExportKind, GlobalType, Instruction, Module, SectionId, ValType};
use wasmparser::{FuncValidatorAllocations, Parser, ValidPayload, Validator};

/// Logical stack units one call chain may use.
pub const STACK_BUDGET: u32 = 16 * 1024;
/// The smallest budget a chain may set (genesis refuses less): room for a few frames of real code.
pub const MIN_STACK_BUDGET: u32 = 1024;
/// Units per frame on top of its values (return address, frame pointer, saved registers).
pub const FRAME_UNITS: u32 = 16;
/// The export under which the counter is visible to the host (a module may not export this name itself).
pub const DEPTH_EXPORT: &str = "__cairn_stack";

/// The frame cost of each defined function, and what the rewrite needs to know about the module.
struct Shape {
    imported_funcs: u32,
    defined_globals: u32,
    costs: Vec<u32>,
}

/// Reads the module once with a validator, measuring each function's locals and deepest operand stack.
fn measure(bytes: &[u8]) -> Result<Shape, String> {
    let mut validator = Validator::new_with_features(crate::validate::features());
    let mut costs = Vec::new();
    let mut allocs = FuncValidatorAllocations::default();
    let mut totals = None;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| e.to_string())?;
        match validator.payload(&payload).map_err(|e| e.to_string())? {
            ValidPayload::Func(to_validate, body) => {
                let mut fv = to_validate.into_validator(std::mem::take(&mut allocs));
                let mut locals = body.get_locals_reader().map_err(|e| e.to_string())?;
                for _ in 0..locals.get_count() {
                    let offset = locals.original_position();
                    let (count, ty) = locals.read().map_err(|e| e.to_string())?;
                    fv.define_locals(offset, count, ty).map_err(|e| e.to_string())?;
                }
                let mut ops = body.get_operators_reader().map_err(|e| e.to_string())?;
                let mut deepest = 0u32;
                while !ops.eof() {
                    let (op, offset) = ops.read_with_offset().map_err(|e| e.to_string())?;
                    fv.op(offset, &op).map_err(|e| e.to_string())?;
                    deepest = deepest.max(fv.operand_stack_height());
                }
                let cost = FRAME_UNITS.saturating_add(fv.len_locals()).saturating_add(deepest);
                costs.push(cost);
                allocs = fv.into_allocations();
            }
            ValidPayload::End(types) => {
                let types = types.as_ref();
                totals = Some((types.function_count(), types.global_count()));
            }
            _ => {}
        }
    }
    let (functions, globals) = totals.ok_or("the module ended early")?;
    let imported_funcs =
        functions.checked_sub(costs.len() as u32).ok_or("more function bodies than functions")?;
    Ok(Shape { imported_funcs, defined_globals: globals, costs })
}

struct Rewriter {
    shape: Shape,
    /// The cost charged for `call_indirect`: the dearest function the table could hold.
    max_cost: u32,
    global_done: bool,
}

impl Rewriter {
    fn depth(&self) -> u32 {
        self.shape.defined_globals
    }

    fn add_global(&mut self, globals: &mut wasm_encoder::GlobalSection) {
        globals.global(
            GlobalType { val_type: ValType::I32, mutable: true, shared: false },
            &ConstExpr::i32_const(0),
        );
        self.global_done = true;
    }

    fn enter(&self, f: &mut wasm_encoder::Function, cost: u32) {
        let d = self.depth();
        let cost = cost as i32;
        f.instruction(&Instruction::GlobalGet(d));
        f.instruction(&Instruction::I32Const(cost));
        f.instruction(&Instruction::I32Add);
        f.instruction(&Instruction::GlobalSet(d));
        f.instruction(&Instruction::GlobalGet(d));
        f.instruction(&Instruction::I32Const(STACK_BUDGET as i32));
        f.instruction(&Instruction::I32GtU);
        f.instruction(&Instruction::If(BlockType::Empty));
        f.instruction(&Instruction::Unreachable);
        f.instruction(&Instruction::End);
    }

    fn leave(&self, f: &mut wasm_encoder::Function, cost: u32) {
        let d = self.depth();
        f.instruction(&Instruction::GlobalGet(d));
        f.instruction(&Instruction::I32Const(cost as i32));
        f.instruction(&Instruction::I32Sub);
        f.instruction(&Instruction::GlobalSet(d));
    }
}

impl Reencode for Rewriter {
    type Error = String;

    fn parse_global_section(
        &mut self,
        globals: &mut wasm_encoder::GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), ReencodeError<String>> {
        utils::parse_global_section(self, globals, section)?;
        self.add_global(globals);
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut wasm_encoder::ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), ReencodeError<String>> {
        utils::parse_export_section(self, exports, section)?;
        exports.export(DEPTH_EXPORT, ExportKind::Global, self.depth());
        Ok(())
    }

    /// A module without globals gets a global section holding only the counter, in its place in the order.
    fn intersperse_section_hook(
        &mut self,
        module: &mut Module,
        after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), ReencodeError<String>> {
        let before_global = |s: SectionId| (s as u8) < (SectionId::Global as u8);
        let past_global = |s: SectionId| {
            matches!(
                s,
                SectionId::Export
                    | SectionId::Start
                    | SectionId::Element
                    | SectionId::DataCount
                    | SectionId::Code
                    | SectionId::Data
            )
        };
        if !self.global_done && after.is_none_or(before_global) && before.is_none_or(past_global) {
            let mut globals = wasm_encoder::GlobalSection::new();
            self.add_global(&mut globals);
            module.section(&globals);
        }
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), ReencodeError<String>> {
        let mut f = self.new_function_with_parsed_locals(&func)?;
        let mut reader = func.get_operators_reader()?;
        while !reader.eof() {
            let ins = self.parse_instruction(&mut reader)?;
            let cost = match &ins {
                Instruction::Call(i) if *i >= self.shape.imported_funcs => {
                    let idx = (*i - self.shape.imported_funcs) as usize;
                    Some(self.shape.costs.get(idx).copied().unwrap_or(self.max_cost))
                }
                Instruction::CallIndirect { .. } => Some(self.max_cost),
                _ => None,
            };
            match cost {
                Some(c) => {
                    self.enter(&mut f, c);
                    f.instruction(&ins);
                    self.leave(&mut f, c);
                }
                None => {
                    f.instruction(&ins);
                }
            }
        }
        code.function(&f);
        Ok(())
    }
}

/// The module with its stack counter. `bytes` must already have passed [`crate::validate::validate`].
pub fn instrument(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let shape = measure(bytes)?;
    let max_cost = shape.costs.iter().copied().max().unwrap_or(FRAME_UNITS);
    let mut rewriter = Rewriter { shape, max_cost, global_done: false };
    let mut module = Module::new();
    rewriter
        .parse_core_module(&mut module, Parser::new(0), bytes)
        .map_err(|e| format!("instrumenting the module: {e}"))?;
    Ok(module.finish())
}
