//! The simulated EBP's reading of the `WhereCondition` YAML a `GenericQuery` carries
//! (`reference/ebp-api.md` §3), with its own types: a node is either a `CustomFilter`
//! (`column`, `operator`, `valueType`, `value` list) or an `ImbricationFilter` (`operator`
//! And/Or, `left`, `right`), told apart by the `type` key.

use serde::Deserialize;

/// Column operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[allow(missing_docs)]
pub enum Operator {
    In,
    NotIn,
    Like,
    Equal,
    Different,
    Lower,
    LowerOrEqual,
    Upper,
    UpperOrEqual,
    IsNull,
    IsNotNull,
    Between,
}

/// And / Or.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[allow(missing_docs)]
pub enum Logic {
    And,
    Or,
}

/// One node of the condition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type")]
pub enum Where {
    /// `column operator values`.
    CustomFilter {
        /// Column.
        column: String,
        /// Operator.
        operator: Operator,
        /// How EBP reads the values (String, Int, Decimal, Date, Column): required, as EBP
        /// requires it, but the simulator compares by value whatever it says.
        #[serde(rename = "valueType")]
        #[allow(dead_code)]
        value_type: String,
        /// Values.
        #[serde(default)]
        value: Vec<serde_yaml::Value>,
    },
    /// `left operator right`.
    ImbricationFilter {
        /// And / Or.
        operator: Logic,
        /// Left node.
        left: Box<Where>,
        /// Right node.
        right: Box<Where>,
    },
}

impl Where {
    /// Reads the YAML text of the query parameter.
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        serde_yaml::from_str(text).map_err(|e| format!("WhereCondition illisible : {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_conditions_read() {
        let yaml = "type: ImbricationFilter\noperator: Or\nleft:\n  type: CustomFilter\n  column: Id\n  operator: In\n  valueType: String\n  value:\n  - A\n  - B\nright:\n  type: CustomFilter\n  column: Stock\n  operator: Upper\n  valueType: Int\n  value:\n  - 3\n";
        let w = Where::from_yaml(yaml).expect("read");
        let Where::ImbricationFilter { operator, left, .. } = w else {
            panic!("not a logic node")
        };
        assert_eq!(operator, Logic::Or);
        assert!(
            matches!(*left, Where::CustomFilter { operator: Operator::In, ref value, .. } if value.len() == 2)
        );
        assert!(Where::from_yaml(
            "type: CustomFilter\ncolumn: Id\noperator: Bogus\nvalueType: String\n"
        )
        .is_err());
    }
}
